"""Collective costs over placed mesh axes: closed forms (reference/collectives.md) and the flows the
engine runs, whose uncontended duration is exactly the closed form.

Symbols: V = bytes of the full (gathered / unreduced) array, N = members of the axis, W = one chip's
bandwidth on one torus dim (both links, both directions: 2 x 4.5e10 B/s on TPU v4).
- all-gather, reduce-scatter: each member receives V (N-1)/N bytes;  T = max(T_hop * hops, V (N-1)/N / W_eff)
- all-reduce = reduce-scatter + all-gather: 2x the bytes and the hops
- all-to-all on a bidirectional ring: about 1/4 of an all-gather's bytes
- W_eff sums the axis's segments, each W / link_load (stride x 2 on a line without wraparound)
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.hardware import ChipSpec
from pathsim.catalog.runtime import RUNTIME
from pathsim.placement import AxisPlacement

BYTE_FACTOR = {"all_gather": 1.0, "reduce_scatter": 1.0, "all_reduce": 2.0, "all_to_all": 0.25}
LATENCY_FACTOR = {"all_gather": 1.0, "reduce_scatter": 1.0, "all_reduce": 2.0, "all_to_all": 1.0}


@dataclass(frozen=True)
class FlowSpec:
    """Bytes one member moves, the load per byte on each resource, and the latency floor."""

    bytes: float
    usage: tuple[tuple[str, float], ...]  # (resource, load per byte): "ici.x+" is one chip's +x out-link
    min_duration_s: float


def member_bytes(kind: str, v_bytes: float, n: int) -> float:
    """Bytes each member receives (and sends) in a ring algorithm."""
    if kind == "send":
        return v_bytes
    return BYTE_FACTOR[kind] * v_bytes * (n - 1) / n


def ici_member_bytes(kind: str, v_bytes: float, axis: AxisPlacement) -> float:
    """Bytes each member of an ICI axis moves; a twisted torus shortens all-to-all's paths."""
    gain = axis.all_to_all_gain if kind == "all_to_all" else 1.0
    return member_bytes(kind, v_bytes, axis.size) / gain


def ici_flow(kind: str, v_bytes: float, axis: AxisPlacement, chip: ChipSpec, forward: bool = True) -> FlowSpec:
    """Loads on one chip's out-links, one resource per dim and direction (capacity: one link one way).
    A ring sends half each way; a line runs a one-way ring whose return crosses every link backwards."""
    w = chip.ici_bidirectional_bytes_per_s
    segs = axis.segments
    if kind == "send":
        # Point-to-point to the neighbour along the axis: one link, one direction, `stride` hops.
        seg = segs[0]
        return FlowSpec(bytes=v_bytes, usage=((f"ici.{seg.dim}{'+' if forward else '-'}", float(seg.stride)),),
                        min_duration_s=chip.ici_hop_latency_s * seg.stride)
    effective = [w / seg.link_load for seg in segs]
    total = sum(effective)
    # Bytes split over the segments in proportion to their bandwidth, so all finish together.
    usage: dict[str, float] = {}
    for seg, eff in zip(segs, effective):
        for direction in "+-":
            key = f"ici.{seg.dim}{direction}"
            usage[key] = usage.get(key, 0.0) + (eff / total) * seg.link_load / 2.0
    hops = sum(seg.latency_hops for seg in segs)
    return FlowSpec(bytes=ici_member_bytes(kind, v_bytes, axis), usage=tuple(sorted(usage.items())),
                    min_duration_s=LATENCY_FACTOR[kind] * chip.ici_hop_latency_s * hops)


def dcn_chip_bytes_per_s(chip: ChipSpec) -> float:
    """A host's DCN bandwidth is shared by its chips, which all transfer at once in SPMD."""
    return chip.dcn_bytes_per_s_per_host / chip.chips_per_host


def dcn_flow_bytes(kind: str, v_bytes: float, n: int) -> float:
    """Bytes each member sends to its ring successor over the DCN."""
    return member_bytes(kind, v_bytes, n)


def dcn_latency_s(kind: str, n: int) -> float:
    steps = 1 if kind == "send" else (n - 1) * LATENCY_FACTOR[kind]
    return RUNTIME.dcn_message_s * steps


def closed_form_time_s(kind: str, v_bytes: float, axis: AxisPlacement, chip: ChipSpec) -> float:
    """The uncontended time of reference/collectives.md for one collective on one axis."""
    if axis.size <= 1 and kind != "send":
        return 0.0
    if axis.network == "dcn":
        rate = dcn_chip_bytes_per_s(chip)
        return max(dcn_latency_s(kind, axis.size), dcn_flow_bytes(kind, v_bytes, axis.size) / rate)
    flow = ici_flow(kind, v_bytes, axis, chip)
    rate = min(chip.ici_link_bytes_per_s / load for _, load in flow.usage)
    return max(flow.min_duration_s, flow.bytes / rate)
