"""The measured device as the simulator's platform: a ChipSpec and a one-island Cluster from a profile.

Every number comes from the profile's own measurements, never from the catalog: peak = the best matmul
rate measured, HBM bandwidth = the best memory-bound rate, and the "ICI" of a mesh of local devices is
fitted to the measured all-gather over all devices (the scaling book's closed form, ring on a wrapped axis:
T = max(hops x T_hop, V (N-1)/N / W) with W = 2 x the link's one-way rate and N/2 hops).
"""

from __future__ import annotations

import math

from pathsim.costs.calibrated.profile import CostProfile
from pathsim.catalog.hardware import ChipSpec
from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.placement.mesh_axes import AUTO_ORDER
from pathsim.platform.topology import DIM_NAMES, Cluster, Island



def _link_fit(profile: CostProfile) -> tuple[float, float]:
    """(one-way link bytes/s, hop latency s) from the all-gathers over every device; (memory rate, 0)
    where the profile has none (one device: the value is never used)."""
    n = profile.meta.device_count
    rows = sorted((c for c in profile.collectives if c.collective == "all_gather" and c.devices == n),
                  key=lambda c: c.bytes)
    if not rows:
        return max(q.bytes / q.time_s for q in profile.memory_ops), 0.0
    big, small = rows[-1], rows[0]
    w_eff = big.bytes * (n - 1) / n / big.time_s
    return w_eff / 2.0, small.time_s / (n / 2.0)


def measured_chip(profile: CostProfile) -> ChipSpec:
    meta = profile.meta
    link, hop = _link_fit(profile)
    source = f"measured by pathsim calibrate on {meta.device_kind} ({meta.backend}), {meta.date}"
    return ChipSpec(
        name=f"measured:{meta.device_kind}",
        peak_bf16_flops_per_s=max(p.flops / p.time_s for p in profile.matmuls),
        hbm_bytes=meta.memory_bytes,
        hbm_bytes_per_s=max(q.bytes / q.time_s for q in profile.memory_ops),
        ici_link_bytes_per_s=link,
        torus_dims=3,
        ici_hop_latency_s=hop,
        chips_per_host=meta.device_count,
        dcn_bytes_per_s_per_host=link,  # one host: the DCN is never used
        host_link_bytes_per_s=1.6e10,  # not measured: the scaling book's per-chip PCIe figure
        mxu_tile=1,  # no padding model: the measured table already holds each shape's efficiency
        wraparound_multiple=1,
        wraparound_min_chips=1,
        max_slice_chips=max(meta.device_count, 1),
        sources={"*": source},
    )


def mesh_cluster(chip: ChipSpec, ici: dict[str, int]) -> Cluster:
    """One island whose dims are the plan's axes (placement's order), each a ring: the local devices
    exchange data through shared memory, so any two members are one hop apart."""
    dims = [ici[k] for k in AUTO_ORDER if ici.get(k, 1) > 1]  # placement's order: one torus dim each
    if len(dims) > len(DIM_NAMES):
        raise ValueError(f"at most {len(DIM_NAMES)} axes of size > 1, got {ici}")
    shape = tuple(dims + [1] * (len(DIM_NAMES) - len(dims)))
    island = Island(name="local", shape=shape, wraparound=tuple(n > 1 for n in shape))
    return Cluster(name=f"local {chip.name} x{math.prod(shape)}", chip=chip, islands=(island,))


def measured_latencies(profile: CostProfile) -> RuntimeLatencies:
    """One process drives its local devices: launching a computation costs one measured call overhead (an
    empty jitted call, which covers the Python side too, so python_call_s is 0)."""
    return RuntimeLatencies(dcn_message_s=0.0, host_enqueue_s=profile.meta.call_overhead_s,
                            controller_work_s=0.0, python_call_s=0.0)
