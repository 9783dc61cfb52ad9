"""Collective costs over placed mesh axes: closed forms (the scaling book, sharding chapter) and the flows the
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
from pathsim.catalog.latencies import LATENCIES, RuntimeLatencies
from pathsim.placement.mesh_axes import AxisPlacement, AxisSegment

BYTE_FACTOR = {"all_gather": 1.0, "reduce_scatter": 1.0, "all_reduce": 2.0, "all_to_all": 0.25}
LATENCY_FACTOR = {"all_gather": 1.0, "reduce_scatter": 1.0, "all_reduce": 2.0, "all_to_all": 1.0}


@dataclass(frozen=True)
class LinkTiming:
    """How ICI transfers are timed beyond the links' spec rate.

    The spec sheet (the default) runs payload at the nominal link rate with no fixed cost, and a
    collective lasts at least its hop latencies (a floor, the scaling book's closed form). Measured kernels
    (pathsim.costs.tpu_kernels) carry payload at a share of the nominal rate and start after fixed costs: the
    collective's launch plus one remote DMA per ring step, the first hop of a DMA dearer than the rest.
    """

    name: str = "spec sheet"
    ici_payload_efficiency: float = 1.0
    first_hop_s: float = 0.0  # fixed cost of one ring step over one hop (0: the spec-sheet floor applies)
    extra_hop_s: float = 0.0  # each further hop of a strided step
    collective_fixed_s: float = 0.0

    @property
    def measured(self) -> bool:
        return self.first_hop_s > 0.0

    def step_s(self, stride: int) -> float:
        return self.first_hop_s + (stride - 1) * self.extra_hop_s


SPEC_SHEET_LINKS = LinkTiming()


@dataclass(frozen=True)
class FlowSpec:
    """Bytes one member moves, the load per byte on each resource, the latency floor (the transfer lasts
    at least that long), and the fixed start-up cost paid before the bytes move."""

    bytes: float
    usage: tuple[tuple[str, float], ...]  # (resource, load per byte): "ici.x+" is one chip's +x out-link
    min_duration_s: float
    startup_s: float = 0.0


def member_bytes(kind: str, v_bytes: float, n: int) -> float:
    """Bytes each member receives (and sends) in a ring algorithm."""
    if kind == "send":
        return v_bytes
    return BYTE_FACTOR[kind] * v_bytes * (n - 1) / n


def ici_member_bytes(kind: str, v_bytes: float, axis: AxisPlacement) -> float:
    """Bytes each member of an ICI axis moves; a twisted torus shortens all-to-all's paths."""
    gain = axis.all_to_all_gain if kind == "all_to_all" else 1.0
    return member_bytes(kind, v_bytes, axis.size) / gain


def ici_latency_s(kind: str, axis: AxisPlacement, chip: ChipSpec, links: LinkTiming) -> tuple[float, float]:
    """(floor, start-up) of one collective or send on an ICI axis.

    Spec sheet: a floor of the hop latencies of the slowest chain. Measured: the launch cost plus one
    remote DMA per ring step (half the ring each way, or the whole line), paid before the bytes move."""
    segs = axis.segments
    if kind == "send":
        if links.measured:
            return 0.0, links.collective_fixed_s + links.step_s(segs[0].stride)
        return chip.ici_hop_latency_s * segs[0].stride, 0.0
    if links.measured:
        steps_s = sum(seg.latency_hops / seg.stride * links.step_s(seg.stride) for seg in segs)
        return 0.0, links.collective_fixed_s + LATENCY_FACTOR[kind] * steps_s
    hops = sum(seg.latency_hops for seg in segs)
    return LATENCY_FACTOR[kind] * chip.ici_hop_latency_s * hops, 0.0


def ring_link_loads(axis: AxisPlacement, chip: ChipSpec) -> tuple[tuple[AxisSegment, float], ...]:
    """Per byte a member receives: the load a ring collective puts on each link it crosses along each
    segment, in each direction. The one definition for the folded (per dim) and full (per link) fabrics.
    Bytes split over the segments in proportion to their bandwidth, so all finish together; a wrapped ring
    sends half each way, a line runs a one-way ring whose return crosses every link backwards."""
    w = chip.ici_bidirectional_bytes_per_s
    effective = [w / seg.link_load for seg in axis.segments]
    total = sum(effective)
    return tuple((seg, eff / total * (0.5 if seg.ring else 1.0)) for seg, eff in zip(axis.segments, effective))


def ici_flow(kind: str, v_bytes: float, axis: AxisPlacement, chip: ChipSpec, forward: bool = True,
             links: LinkTiming = SPEC_SHEET_LINKS) -> FlowSpec:
    """Loads on one chip's out-links, one resource per dim and direction (capacity: one link one way).
    A ring sends half each way; a line runs a one-way ring whose return crosses every link backwards.
    Bytes are wire bytes: the payload over the links' measured payload share."""
    segs = axis.segments
    floor_s, startup_s = ici_latency_s(kind, axis, chip, links)
    wire = 1.0 / links.ici_payload_efficiency
    if kind == "send":
        # Point-to-point to the neighbour along the axis: one link, one direction, `stride` hops.
        seg = segs[0]
        return FlowSpec(bytes=v_bytes * wire, usage=((f"ici.{seg.dim}{'+' if forward else '-'}", float(seg.stride)),),
                        min_duration_s=floor_s, startup_s=startup_s)
    usage: dict[str, float] = {}
    for seg, load in ring_link_loads(axis, chip):
        for direction in "+-":
            key = f"ici.{seg.dim}{direction}"
            usage[key] = usage.get(key, 0.0) + load * seg.stride  # a member's bytes cross `stride` links
    return FlowSpec(bytes=ici_member_bytes(kind, v_bytes, axis) * wire, usage=tuple(sorted(usage.items())),
                    min_duration_s=floor_s, startup_s=startup_s)


def dcn_chip_bytes_per_s(chip: ChipSpec) -> float:
    """A host's DCN bandwidth is shared by its chips, which all transfer at once in SPMD."""
    return chip.dcn_bytes_per_s_per_host / chip.chips_per_host


def dcn_flow_bytes(kind: str, v_bytes: float, n: int) -> float:
    """Bytes each member sends to its ring successor over the DCN."""
    return member_bytes(kind, v_bytes, n)


def dcn_latency_s(kind: str, n: int, latencies: RuntimeLatencies) -> float:
    """The floor of a DCN collective (or send): one message per ring step, at the run's latencies."""
    steps = 1 if kind == "send" else (n - 1) * LATENCY_FACTOR[kind]
    return latencies.dcn_message_s * steps


def closed_form_time_s(kind: str, v_bytes: float, axis: AxisPlacement, chip: ChipSpec,
                       links: LinkTiming = SPEC_SHEET_LINKS, latencies: RuntimeLatencies = LATENCIES) -> float:
    """The uncontended time of one collective on one axis: the scaling book's closed form with
    the spec-sheet links, plus the measured fixed costs and payload share with measured ones."""
    if axis.size <= 1 and kind != "send":
        return 0.0
    if axis.network == "dcn":
        rate = dcn_chip_bytes_per_s(chip)
        return max(dcn_latency_s(kind, axis.size, latencies), dcn_flow_bytes(kind, v_bytes, axis.size) / rate)
    flow = ici_flow(kind, v_bytes, axis, chip, links=links)
    rate = min(chip.ici_link_bytes_per_s / load for _, load in flow.usage)
    return flow.startup_s + max(flow.min_duration_s, flow.bytes / rate)
