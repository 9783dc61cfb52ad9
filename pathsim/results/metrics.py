"""Timeline --measure--> Metrics: step time, tokens/s, MFU and HFU (PaLM's definitions), and where the
step's time went on each device group."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pathsim.engine.timeline import Span, Timeline, union_length
from pathsim.platform.topology import Cluster
from pathsim.workload.model import StepWork


@dataclass(frozen=True)
class Breakdown:
    """Seconds of one step by what the chips were doing; the categories sum to the step time.

    Compute wins where it overlaps communication; exposed communication is what no compute hides."""

    compute_s: float
    exposed_ici_s: float
    exposed_dcn_s: float
    pipeline_bubble_s: float
    dispatch_idle_s: float
    exposed_host_s: float = 0.0  # host offload's PCIe copies no compute or collective hides

    def as_dict(self) -> dict[str, float]:
        d = asdict(self)
        if not self.exposed_host_s:
            del d["exposed_host_s"]  # shown only where a policy offloads
        return d


@dataclass(frozen=True)
class StepMetrics:
    step_time_s: float
    tokens_per_step: int
    tokens_per_s: float
    mfu: float
    hfu: float
    model_flops_per_token: float
    hardware_flops_per_token: float
    executed_flops_per_step: float  # every FLOP the simulated chips ran, replicated work included
    breakdown: Breakdown
    compute_by_phase_s: tuple[tuple[str, float], ...]
    chips: int


def group_breakdown(spans: list[Span], step_s: float, pipelined: bool) -> Breakdown:
    compute = [(s.start_s, s.end_s) for s in spans if s.track == "compute"]
    ici = [(s.start_s, s.end_s) for s in spans if s.track == "ici"]
    dcn = [(s.start_s, s.end_s) for s in spans if s.track == "dcn"]
    host = [(s.start_s, s.end_s) for s in spans if s.track == "host"]
    c = union_length(compute)
    ci = union_length(compute + ici)
    cid = union_length(compute + ici + dcn)
    cidh = union_length(compute + ici + dcn + host) if host else cid
    rest = max(0.0, step_s - cidh)
    return Breakdown(compute_s=c, exposed_ici_s=ci - c, exposed_dcn_s=cid - ci,
                     pipeline_bubble_s=rest if pipelined else 0.0, dispatch_idle_s=0.0 if pipelined else rest,
                     exposed_host_s=cidh - cid)


def measure(timeline: Timeline, work: StepWork, cluster: Cluster) -> StepMetrics:
    step = timeline.end_s
    tokens = work.tokens_per_step
    peak = cluster.chips * cluster.chip.peak_bf16_flops_per_s
    mf, hf = work.model_flops_per_token, work.hardware_flops_per_token
    by_group: dict[str, list[Span]] = {g: [] for g in timeline.groups}
    for span in timeline.spans:
        if span.group in by_group:
            by_group[span.group].append(span)
    # Chip-weighted mean over groups: each group's categories sum to the step, so the mean does too.
    weights = dict(zip(timeline.groups, timeline.group_chips))
    total_w = sum(weights.values())
    parts = {g: group_breakdown(spans, step, timeline.pipelined) for g, spans in by_group.items()}
    mean = {k: sum(weights[g] * getattr(parts[g], k) for g in parts) / total_w for k in Breakdown.__dataclass_fields__}
    phases: dict[str, float] = {}
    executed = 0.0
    for span in timeline.spans:
        if span.track == "compute" and span.group in weights:
            phases[span.phase] = phases.get(span.phase, 0.0) + weights[span.group] * span.duration_s / total_w
            executed += span.flops * weights[span.group]
    tps = tokens / step
    return StepMetrics(
        step_time_s=step, tokens_per_step=tokens, tokens_per_s=tps, mfu=tps * mf / peak, hfu=tps * hf / peak,
        model_flops_per_token=mf, hardware_flops_per_token=hf, executed_flops_per_step=executed,
        breakdown=Breakdown(**mean), compute_by_phase_s=tuple(sorted(phases.items())), chips=cluster.chips,
    )
