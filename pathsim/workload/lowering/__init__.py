"""Model + plan --lower--> Program: one op list per device group (pipeline stage x DCN replica).

Axes are MeshAxis (network, kind). Chips along ICI axes other than pipeline run the same SPMD
program and are folded into one group; DCN axes and the pipeline axes separate groups. A pipeline may span
islands: with dcn.pipeline and ici.pipeline both given, stage = dcn coordinate x ici stages + ici
coordinate (consecutive stages on one island, the boundary between islands crossed over the DCN).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pathsim.catalog.software import SOFTWARE
from pathsim.mesh.plan import Mesh, stage_layers
from pathsim.workload.lowering.context import GroupBuilder, Shard, shard_for
from pathsim.workload.lowering.schedule import pipeline_order
from pathsim.workload.lowering.transformer import (
    backward_sub_block,
    embed_backward,
    embed_forward,
    fetch_offloaded,
    forward_sub_block,
    loss_forward_backward,
    remat_sub_block,
    sub_blocks,
)
from pathsim.mesh.axis import DCN_DATA, ICI_DATA, ICI_PIPELINE, MeshAxis
from pathsim.workload.program import ComputeOp, GroupProgram, Program, group_label

DCN_PIPELINE = MeshAxis("dcn", "pipeline")

__all__ = ["lower", "LoweringOptions", "shard_for", "Shard"]


@dataclass(frozen=True)
class LoweringOptions:
    """The dispatch section's switches that change the program's ops and their dependencies."""

    weight_prefetch_layers: int  # fsdp all-gathers run at most this many layers ahead of their use
    overlap_dcn_gradients: bool  # DCN gradient reduction per layer in the backward, else one transfer at the end


class _GroupLowering:
    """Emits one group's ops, tracking what weight prefetching and gradient reduction depend on."""

    def __init__(self, s: Shard, mesh: Mesh, options: LoweringOptions, stage: int,
                 neighbours: dict[str, tuple[int, MeshAxis]]) -> None:
        self.s, self.options, self.stage = s, options, stage
        self.b = GroupBuilder(axis_sizes=mesh.sizes, operand_bytes=s.act_bytes)
        self.fsdp_axis = mesh.axis_of("fsdp")
        self.neighbours = neighbours
        self.prefetch = options.weight_prefetch_layers
        self.block_starts: list[int] = []
        self.last_gather: int | None = None
        self.grad_ops: list[int] = []
        self.layers = stage_layers(s.n_layers, s.stages, stage)
        self.first, self.last = stage == 0, stage == s.stages - 1
        self.offloads: dict[str, int] = {}  # sub-block tag -> its device-to-host copy (host offload)

    # --- weights -------------------------------------------------------------------------------------
    def _gather_weights(self, tag: str, params_local: int, phase: str) -> int | None:
        """All-gather one block's weights over fsdp, at most `prefetch` blocks ahead of their use."""
        if self.prefetch == 0:
            window = self._last_op()
        else:
            window = self.block_starts[-self.prefetch] if len(self.block_starts) >= self.prefetch else None
        op = self.b.collective(f"{tag}.ag_w", "all_gather", self.fsdp_axis, params_local * self.s.weight_compute_bytes,
                               phase, deps=(self.last_gather, window))
        if op is not None:
            self.last_gather = op
        return op

    def _last_op(self) -> int | None:
        """The op emitted last: with no layer ahead, what a layer's gathers wait for (the loop's iteration)."""
        return len(self.b.ops) - 1 if self.b.ops else None

    def _mark_block_start(self, first_index: int) -> None:
        for i in range(first_index, len(self.b.ops)):
            if isinstance(self.b.ops[i], ComputeOp):
                self.block_starts.append(i)
                return

    def _reduce_gradients(self, tag: str, params_local: int, deps: tuple[int, ...]) -> None:
        """Reduce-scatter over fsdp, all-reduce the shard over ICI data, and over DCN data if overlapped."""
        s, b = self.s, self.b
        rs = b.collective(f"{tag}.rs_grad", "reduce_scatter", self.fsdp_axis, params_local * s.weight_compute_bytes,
                          "backward", deps=deps)
        shard_bytes = params_local * s.weight_compute_bytes / s.fsdp
        last = rs if rs is not None else None
        ar = b.collective(f"{tag}.ar_grad", "all_reduce", ICI_DATA, shard_bytes, "backward",
                          deps=(last,) if last is not None else deps)
        last = ar if ar is not None else last
        if self.options.overlap_dcn_gradients:
            dcn = b.collective(f"{tag}.dcn_grad", "all_reduce", DCN_DATA, shard_bytes, "backward",
                               deps=(last,) if last is not None else deps)
            last = dcn if dcn is not None else last
        self.grad_ops.extend([last] if last is not None else deps)

    # --- micro-batches -------------------------------------------------------------------------------
    def forward(self, mb: int) -> int | None:
        s, b = self.s, self.b
        if self.first:
            start = len(b.ops)
            table = self._gather_weights(f"mb{mb}.embed", s.embedding_params_local, "forward")
            x = embed_forward(b, s, f"mb{mb}", table)
            self._mark_block_start(start)
        else:
            x = b.recv(f"mb{mb}.recv_x", f"fwd.mb{mb}.s{self.stage}", "forward")
        for layer in self.layers:
            start = len(b.ops)
            w = self._gather_weights(f"L{layer}.mb{mb}.fwd", s.layer_weight_params_local, "forward")
            for sb in sub_blocks(s):
                x = forward_sub_block(b, s, sb, f"L{layer}.mb{mb}.{sb.name}", x, w, self.offloads)
            self._mark_block_start(start)
        if self.last:
            return x
        peer, axis = self.neighbours["next"]
        b.send(f"fwd.mb{mb}.s{self.stage + 1}", s.tokens * s.d_local * s.act_bytes, peer, axis, "forward",
               deps=(x,))
        return None

    def backward(self, mb: int, x_top: int | None, last_mb: bool) -> None:
        s, b = self.s, self.b
        head_grads: tuple[int, ...] = ()
        if self.last:
            start = len(b.ops)
            table = self._gather_weights(f"mb{mb}.head", s.embedding_params_local, "forward")
            dy, head_grads = loss_forward_backward(b, s, f"mb{mb}", x_top, table)
            self._mark_block_start(start)
        else:
            dy = b.recv(f"mb{mb}.recv_dy", f"bwd.mb{mb}.s{self.stage}", "backward")
        for layer in reversed(self.layers):
            start = len(b.ops)
            previous_start = self.block_starts[-1] if self.block_starts else None
            # The remat's input gathers run ahead as the weights' do: with no layer ahead (XLA on v4), once
            # the previous layer's work is done, as the layer loop's next iteration.
            gather_after = previous_start if self.prefetch > 0 else self._last_op()
            w = self._gather_weights(f"L{layer}.mb{mb}.bwd", s.layer_weight_params_local, "backward")
            dws: list[int] = []
            for sb in reversed(sub_blocks(s)):
                tag = f"L{layer}.mb{mb}.{sb.name}"
                copied = tuple(self.offloads.get(f"L{layer}.mb{mb}.{x.name}") for x in sub_blocks(s))
                fetched = fetch_offloaded(b, s, sb, tag, copied, previous_start)
                recomputed = remat_sub_block(b, s, sb, tag, w, gather_after, fetched)
                dy, dw = backward_sub_block(b, s, sb, tag, dy, w, recomputed)
                dws.extend(dw)
            self._mark_block_start(start)
            self._layer_grads.setdefault(layer, []).extend(dws)
            if last_mb:
                self._reduce_gradients(f"L{layer}", s.layer_weight_params_local, tuple(self._layer_grads[layer]))
            elif s.stages == 1:
                self._layer_grads[layer] = self._accumulate(f"L{layer}.mb{mb}", s.layer_weight_params_local,
                                                            self._layer_grads[layer])
        embed_grads = list(head_grads)
        if self.first:
            embed_grads.append(embed_backward(b, s, f"mb{mb}", dy))
        else:
            peer, axis = self.neighbours["prev"]
            b.send(f"bwd.mb{mb}.s{self.stage - 1}", s.tokens * s.d_local * s.act_bytes, peer, axis, "backward",
                   deps=(dy,))
        self._embed_grads.extend(i for i in embed_grads if i is not None)
        if last_mb and self._embed_grads:
            self._reduce_gradients("embed", self._embedding_params_here(), tuple(self._embed_grads))
        elif s.stages == 1 and self._embed_grads:
            self._embed_grads = self._accumulate(f"embed.mb{mb}", self._embedding_params_here(), self._embed_grads)

    def _accumulate(self, tag: str, params: int, grads: list[int]) -> list[int]:
        """Gradient accumulation without a pipeline: the accumulator is sharded as the weights (JAX
        frameworks; the compiled step reduces the layers' and the embedding's fsdp bytes M times with M
        micro-batches, docs/xla.md), so each micro-batch reduce-scatters its own gradients over fsdp."""
        rs = self.b.collective(f"{tag}.rs_grad", "reduce_scatter", self.fsdp_axis, params * self.s.weight_compute_bytes,
                               "backward", deps=tuple(grads))
        return [rs] if rs is not None else grads

    def _embedding_params_here(self) -> int:
        return self.s.embedding_params_on_stage(self.stage)

    def local_params(self) -> int:
        embed = self._embedding_params_here() if (self.first or self.last) else 0
        return len(self.layers) * self.s.layer_weight_params_local + embed

    def build(self) -> list:
        s, b = self.s, self.b
        self._layer_grads: dict[int, list[int]] = {}
        self._embed_grads: list[int] = []
        order = pipeline_order(self.stage, s.stages, s.microbatches, s.pipeline_schedule)
        last_b = max(i for i, (kind, _) in enumerate(order) if kind == "B")
        tops: dict[int, int | None] = {}
        for i, (kind, mb) in enumerate(order):
            if kind == "F":
                tops[mb] = self.forward(mb)
            else:
                self.backward(mb, tops.get(mb), last_mb=i == last_b)
        shard_params = self.local_params() / s.fsdp
        grads = tuple(self.grad_ops)
        if not self.options.overlap_dcn_gradients:
            # Pathways' cross-pod transfer: after all in-island gradient reduction, hosts exchange shards.
            dcn = b.collective("dcn_grad", "all_reduce", DCN_DATA, shard_params * s.weight_compute_bytes, "backward",
                               deps=grads, computation="transfer")
            grads = (dcn,) if dcn is not None else grads
        moments = s.optimizer_moments
        # Read and write the weights and moments, read the gradients.
        per_param = 2 * s.param_bytes + s.grad_bytes + 2 * moments * SOFTWARE.f32_bytes
        b.compute("optimizer", "optimizer", "optimizer", deps=grads, hbm_bytes=shard_params * per_param,
                  computation="update")
        return b.ops


def lower(s: Shard, mesh: Mesh, options: LoweringOptions, ici_chips_per_group: int | None = None) -> Program:
    """One op list per device group; `ici_chips_per_group` is the placement's (the mesh's by default)."""
    sizes = mesh.sizes
    gaxes = mesh.group_axes
    names = [a for a, _ in gaxes]
    coords_list = list(itertools.product(*(range(n) for _, n in gaxes)))
    index_of = {c: i for i, c in enumerate(coords_list)}
    ici_stages = sizes.get(ICI_PIPELINE, 1)
    ici_chips = ici_chips_per_group or mesh.ici_chips_per_group
    groups = []
    for coords in coords_list:
        where = dict(zip(names, coords))
        stage = where.get(DCN_PIPELINE, 0) * ici_stages + where.get(ICI_PIPELINE, 0)
        neighbours = {}
        for label, step in (("next", 1), ("prev", -1)):
            other = stage + step
            if not 0 <= other < s.stages:
                continue
            dcn_coord, ici_coord = divmod(other, ici_stages)
            axis = ICI_PIPELINE if dcn_coord == where.get(DCN_PIPELINE, 0) else DCN_PIPELINE
            moved = dict(where)
            for a, c in ((DCN_PIPELINE, dcn_coord), (ICI_PIPELINE, ici_coord)):
                if a in moved:
                    moved[a] = c
            neighbours[label] = (index_of[tuple(moved[a] for a in names)], axis)
        ops = _GroupLowering(s, mesh, options, stage, neighbours).build()
        named = tuple(zip(names, coords))
        if DCN_PIPELINE in where and ICI_PIPELINE in where:  # one stage number for the two pipeline axes
            label = group_label((a, stage if a == DCN_PIPELINE else c) for a, c in named if a != ICI_PIPELINE)
        else:
            label = group_label(named)
        groups.append(GroupProgram(name=label, coords=named, ops=tuple(ops), chips=ici_chips))
    return Program(groups=tuple(groups), group_axes=gaxes, computations=("train", "transfer", "update"))
