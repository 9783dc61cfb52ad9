"""An imported program's collective bytes against what its plan implies: a misread program is reported
as suspect, naming its collectives, instead of being simulated silently.

Per mesh axis and family of collective (gather: all-gather and collective-permute; reduce: reduce-scatter
and all-reduce; all-to-all), the imported V bytes per chip (CommOp.bytes, summed over the step) are set
beside the plan's nominal figure, worked out from the model and the plan alone:

- fsdp axes: the weights (of one tensor shard) gathered once per pass, forward and backward, plus once
  more for the recompute when layers are rematerialized; their gradients reduce-scattered once. Both in
  the activation dtype: the step casts f32 weights to it on the shard, before the gathers.
- tensor axis: each block's input activations [batch per chip, seq, d_model] gathered and its output
  reduced (2d style; megatron: one all-reduce per block), in each pass (forward, backward, recompute).
- data axes: the gradients a chip holds after the fsdp reduce-scatter, all-reduced once.
- micro-batches (gradient accumulation): each micro-batch gathers the weights again and reduces its
  gradients into the sharded accumulator, so fsdp and data traffic is M times the above; the tensor
  axis' activations are split over the micro-batches and do not grow.

A family is suspect when it moves more than SUSPECT_FACTOR times its nominal bytes (times the axis'
nominal total when the plan implies none of it), or when its axis as a whole moves less than the axis'
nominal total / SUSPECT_FACTOR. Too little is judged per axis because a compile may move one family's
traffic as another's: windowed einsums reduce-scatter with collective-permutes, which the import reads
as gathers (PaLM 540B's compiled program reduces 0.06x the nominal over tensor and gathers 2.6x).

Why 4: what a correct compile may legitimately do beyond the nominal stays within it: a gradient
reduced in f32 rather than bf16 (2x), weights regathered for the recompute or kept from the forward
pass (1.5x either way), windowed einsums that gather activations in several steps (PaLM 540B's compiled
program: 2.6x the nominal over tensor); a reader that misdecodes replica groups or loop trip counts is off
by the group size or the trip count, 16x and more on any pod slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.config.experiment import ModelConfig, PlanConfig, TrainingConfig
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.model import embedding_params, layer_params
from pathsim.workload.program import CommOp, Program

SUSPECT_FACTOR = 4.0
FAMILY = {"all_gather": "gather", "permute": "gather", "reduce_scatter": "reduce", "all_reduce": "reduce",
          "all_to_all": "all_to_all"}


@dataclass(frozen=True)
class AxisTraffic:
    """One family of collectives on one mesh axis: imported vs nominal V bytes per chip per step."""

    axis: MeshAxis
    family: str  # "gather", "reduce" or "all_to_all"
    nominal_bytes: float
    imported_bytes: float
    collectives: tuple[str, ...]  # the HLO collectives moving the most, largest first
    suspect: bool

    @property
    def ratio(self) -> float:
        return self.imported_bytes / self.nominal_bytes if self.nominal_bytes else math.inf

    def text(self) -> str:
        off = f"{self.ratio:.3g}x the plan's {self.nominal_bytes:.3g} B" if self.nominal_bytes else "none planned"
        return (f"{self.family} over {self.axis}: {self.imported_bytes:.3g} B per chip, {off}"
                f" (largest: {', '.join(self.collectives)})")

    def as_dict(self) -> dict:
        return {"axis": str(self.axis), "family": self.family, "nominal_bytes": self.nominal_bytes,
                "imported_bytes": self.imported_bytes, "collectives": list(self.collectives),
                "suspect": self.suspect}


@dataclass(frozen=True)
class CollectiveCheck:
    rows: tuple[AxisTraffic, ...]
    factor: float = SUSPECT_FACTOR

    @property
    def suspect(self) -> tuple[AxisTraffic, ...]:
        return tuple(r for r in self.rows if r.suspect)

    def as_dict(self) -> dict:
        return {"factor": self.factor, "suspect": bool(self.suspect), "rows": [r.as_dict() for r in self.rows]}


def nominal_bytes(model: ModelConfig, training: TrainingConfig, plan: PlanConfig,
                  axes: tuple[tuple[MeshAxis, int], ...]) -> dict[tuple[MeshAxis, str], float]:
    """V bytes per chip per step that the plan implies, by (axis, family); see the module's docstring."""
    size = dict(axes)
    tensor = math.prod(n for a, n in axes if a.kind == "tensor")
    fsdp = math.prod(n for a, n in axes if a.kind == "fsdp")
    batch_ways = math.prod(n for a, n in axes if a.kind in ("data", "fsdp"))
    layer = layer_params(model)
    weights = (model.n_layers * (layer.attention + layer.mlp) + embedding_params(model)) / tensor
    passes = 2 + (training.remat != "none")  # forward, backward, the recompute
    micro = plan.microbatches
    blocks = 1 if model.block == "parallel" else 2  # attention and MLP read one input, or one after the other
    activation = training.global_batch_seqs / batch_ways * model.seq_len * model.d_model * training.activation_bytes
    out: dict[tuple[MeshAxis, str], float] = {}
    for axis in size:
        if axis.kind == "fsdp":
            out[(axis, "gather")] = micro * passes * weights * training.activation_bytes
            out[(axis, "reduce")] = micro * weights * training.activation_bytes
        elif axis.kind == "data":
            out[(axis, "reduce")] = micro * weights * training.activation_bytes / fsdp
        elif axis.kind == "tensor":
            per_pass = model.n_layers * blocks * activation * passes
            out[(axis, "reduce")] = per_pass
            if plan.tensor_style == "2d":
                out[(axis, "gather")] = per_pass
    return out


def check_collectives(program: Program, model: ModelConfig, training: TrainingConfig, plan: PlanConfig,
                      axes: tuple[tuple[MeshAxis, int], ...]) -> CollectiveCheck:
    """Imported vs nominal bytes per (axis, family) of one chip's program (the first group)."""
    imported: dict[tuple[MeshAxis, str], dict[str, float]] = {}
    for op in program.groups[0].ops:
        if isinstance(op, CommOp) and op.collective in FAMILY:
            by_name = imported.setdefault((op.axis, FAMILY[op.collective]), {})
            by_name[op.name] = by_name.get(op.name, 0.0) + op.bytes
    nominal = nominal_bytes(model, training, plan, tuple((a, n) for a, n in axes if n > 1))
    rows = []
    for key in sorted(set(nominal) | set(imported), key=lambda k: (str(k[0]), k[1])):
        axis, family = key
        names = imported.get(key, {})
        got, planned = sum(names.values()), nominal.get(key, 0.0)
        planned_axis = sum(v for (a, _), v in nominal.items() if a == axis)
        moved_axis = sum(sum(v.values()) for (a, _), v in imported.items() if a == axis)
        too_much = got > SUSPECT_FACTOR * (planned or planned_axis)
        suspect = too_much or (planned > 0 and moved_axis < planned_axis / SUSPECT_FACTOR)
        largest = tuple(sorted(names, key=lambda n: -names[n])[:3])
        rows.append(AxisTraffic(axis=axis, family=family, nominal_bytes=planned, imported_bytes=got,
                                collectives=largest, suspect=suspect))
    return CollectiveCheck(rows=tuple(rows))
