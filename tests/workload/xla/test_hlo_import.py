"""Compiled programs imported by hand-checkable rules: one matmul, a 3-layer scan, replica groups."""

from __future__ import annotations

import numpy as np
import pytest

from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import CommOp, ComputeOp
from pathsim.workload.xla.hlo_import import MeshAxes, import_hlo, replica_groups
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER

TENSOR, FSDP, DCN_DATA = MeshAxis("ici", "tensor"), MeshAxis("ici", "fsdp"), MeshAxis("dcn", "data")

M, K, N = 256, 512, 384


def _one_chip_tpu():
    from jax.experimental import topologies

    desc = topologies.get_topology_desc(platform="tpu", topology_name="v4:1x1x1", chip_config_name="megacore",
                                        chips_per_host_bounds=(1, 1, 1), num_slices=1)
    return desc.devices[0]


def _compile(fn, *shapes, backend: str):
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    device = _one_chip_tpu() if backend == "tpu" else jax.devices("cpu")[0]
    sharding = NamedSharding(Mesh(np.array([device]), ("x",)), PartitionSpec())
    args = [jax.ShapeDtypeStruct(s, jnp.bfloat16, sharding=sharding) for s in shapes]
    return jax.jit(fn).lower(*args).compile().as_text()


@NEEDS_TPU_COMPILER
@pytest.mark.parametrize("backend", ["tpu", "cpu"])
def test_one_matmul_is_one_kernel_with_its_shape(backend):
    text = _compile(lambda a, b: a @ b, (M, K), (K, N), backend=backend)
    program = import_hlo(text, clock_hz=1.05e9)
    ops = program.groups[0].ops
    matmuls = [op for op in ops if isinstance(op, ComputeOp) and op.matmul is not None]
    assert len(matmuls) == 1
    (op,) = matmuls
    assert (op.matmul.m, op.matmul.k, op.matmul.n, op.matmul.batch) == (M, K, N, 1)
    assert op.flops == pytest.approx(2 * M * K * N)
    if backend == "tpu":  # bf16 operands read once, the bf16 result written once
        assert op.hbm_bytes == pytest.approx(2 * (M * K + K * N + M * N))
    else:  # XLA:CPU converts bf16 to f32 around its dot: at least as many bytes
        assert op.hbm_bytes >= 2 * (M * K + K * N + M * N)
    assert op.kind == "matmul" and op.phase == "forward"
    assert op.name in text  # named by its HLO instruction
    if backend == "tpu":
        assert op.compiler_estimate_s is not None and op.compiler_estimate_s > 0
    else:
        assert op.compiler_estimate_s is None  # CPU HLO carries no estimated_cycles
    assert not any(isinstance(o, CommOp) for o in ops)


@NEEDS_TPU_COMPILER
@pytest.mark.parametrize("backend", ["tpu", "cpu"])
def test_three_layer_scan_repeats_the_body_three_times(backend):
    import jax

    layers = 3

    def step(x, ws):
        y, _ = jax.lax.scan(lambda h, w: (jax.numpy.tanh(h @ w), None), x, ws)
        return y

    text = _compile(step, (M, K), (layers, K, K), backend=backend)
    program = import_hlo(text)
    ops = [op for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    matmuls = [op for op in ops if op.matmul is not None]
    # Each iteration runs the body's one matmul under the same instruction name.
    assert len(matmuls) == layers and len({op.name for op in matmuls}) == 1
    assert sum(op.flops for op in matmuls) >= layers * 2 * M * K * K
    assert all((op.matmul.m, op.matmul.k, op.matmul.n) == (M, K, K) for op in matmuls)
    # No kernel of the loop body reads the whole stack of weights (even in f32, as XLA:CPU keeps it):
    # dynamic slices read one layer's weights.
    stack_bytes = layers * K * K * 4
    names = [op.name for op in ops]
    body = [op for op in ops if names.count(op.name) == layers]
    assert body and all(op.hbm_bytes < stack_bytes for op in body)


def test_replica_group_spellings_agree():
    explicit = replica_groups("{{0,2},{1,3}}", 4)
    assert replica_groups("[2,2]<=[2,2]T(1,0)", 4) == explicit
    assert replica_groups("mesh['axis_0'=2,'axis_1'=2] {'axis_0'}", 4) == explicit
    assert replica_groups("mesh['axis_0'=2,'axis_1'=2] {'axis_1'}", 4) == [[0, 1], [2, 3]]
    # A mesh over a transposed device order: device ids ([2,2]T(1,0)) lay 0,2,1,3 out row-major.
    assert replica_groups("mesh['axis_0'=2,'axis_1'=2], device_ids=([2,2]T(1,0)) {'axis_1'}", 4) == explicit
    assert replica_groups("", 4) == [[0, 1, 2, 3]]


def test_mesh_axes_decode_device_ids():
    mesh = MeshAxes(((DCN_DATA, 2), (FSDP, 2), (TENSOR, 3)))
    # Device id = position in the row-major mesh: ids 0..2 differ along tensor only, 0 and 6 along data.
    assert mesh.spanned([0, 1, 2]) == [(TENSOR, 3)]
    assert mesh.spanned([0, 6]) == [(DCN_DATA, 2)]
    assert mesh.spanned([0, 3, 6, 9]) == [(DCN_DATA, 2), (FSDP, 2)]


HLO_ALL_REDUCE_TWO_AXES = """
HloModule m, is_scheduled=true

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %s = f32[] add(%a, %b)
}

ENTRY %main (p: f32[1024]) -> f32[1024] {
  %p = f32[1024]{0} parameter(0)
  %exp = f32[1024]{0} exponential(%p)
  %ar = f32[1024]{0} all-reduce(%exp), replica_groups={{0,1,2,3}}, to_apply=%add
  ROOT %neg = f32[1024]{0} negate(%ar)
}
"""


def test_collective_over_two_axes_is_a_chain_with_the_same_bytes():
    mesh = MeshAxes(((FSDP, 2), (TENSOR, 2)))
    ops = import_hlo(HLO_ALL_REDUCE_TWO_AXES, mesh).groups[0].ops
    comms = [op for op in ops if isinstance(op, CommOp)]
    v = 1024 * 4
    # all-reduce over fsdp x tensor = reduce-scatter (tensor) -> all-reduce (fsdp) on half -> all-gather.
    assert [(c.collective, c.axis, c.bytes) for c in comms] == [
        ("reduce_scatter", TENSOR, v), ("all_reduce", FSDP, v / 2), ("all_gather", TENSOR, v)]
    assert comms[1].deps == (ops.index(comms[0]),) and comms[2].deps == (ops.index(comms[1]),)
    neg = ops[-1]
    assert isinstance(neg, ComputeOp) and neg.name == "neg"
    assert ops.index(comms[-1]) in neg.deps  # the consumer waits for the whole chain
    assert ops.index(ops[0]) in comms[0].deps  # the collective waits for its producer


HLO_LOOP_STEP_TWO = """
HloModule m, is_scheduled=true

%cond (p: (s32[], f32[64])) -> pred[] {
  %p = (s32[], f32[64]{0}) parameter(0)
  %i = s32[] get-tuple-element(%p), index=0
  %bound = s32[] constant(6)
  ROOT %lt = pred[] compare(%i, %bound), direction=LT
}

%body (q: (s32[], f32[64])) -> (s32[], f32[64]) {
  %q = (s32[], f32[64]{0}) parameter(0)
  %j = s32[] get-tuple-element(%q), index=0
  %x = f32[64]{0} get-tuple-element(%q), index=1
  %two = s32[] constant(2)
  %next = s32[] add(%j, %two)
  %y = f32[64]{0} exponential(%x)
  ROOT %t = (s32[], f32[64]{0}) tuple(%next, %y)
}

ENTRY %main (a: f32[64]) -> f32[64] {
  %a = f32[64]{0} parameter(0)
  %zero = s32[] constant(0)
  %start = s32[] copy(%zero)
  %init = (s32[], f32[64]{0}) tuple(%start, %a)
  %w = (s32[], f32[64]{0}) while(%init), condition=%cond, body=%body
  ROOT %out = f32[64]{0} get-tuple-element(%w), index=1
}
"""


def test_a_loop_counting_by_two_runs_half_its_bound():
    """i = 0; while i < 6: i += 2  ->  3 iterations (XLA's bidirectional windowed einsums count so)."""
    ops = import_hlo(HLO_LOOP_STEP_TWO).groups[0].ops
    assert [op.name for op in ops] == ["y", "y", "y"]
    assert all(op.flops == 64 and op.hbm_bytes == 2 * 64 * 4 for op in ops)


HLO_ASYNC_COLLECTIVE_FUSION = """
HloModule m, is_scheduled=true

%start_comp (p0: bf16[4,64]) -> (bf16[4,64], bf16[16,64], u32[]) {
  %p0 = bf16[4,64]{1,0} parameter(0)
  %ag.1 = bf16[16,64]{1,0} all-gather(%p0), channel_id=7, replica_groups=[1,4]<=[4], dimensions={0}, use_global_device_ids=true, backend_config={"async_collective_fusion_config":{"flag_start":"-1"}}
  ROOT %cc.1 = (bf16[4,64]{1,0}, bf16[16,64]{1,0}, u32[]) custom-call(%ag.1), custom_call_target="AsyncCollectiveStart"
}

%cont_comp (q0: f32[128], q1: bf16[4,64], q2: bf16[16,64]) -> (f32[128], bf16[4,64], bf16[16,64], bf16[16,64]) {
  %q0 = f32[128]{0} parameter(0)
  %q1 = bf16[4,64]{1,0} parameter(1)
  %q2 = bf16[16,64]{1,0} parameter(2)
  %e = f32[128]{0} exponential(%q0)
  %ag.2 = bf16[16,64]{1,0} all-gather(%q1), channel_id=7, replica_groups=[1,4]<=[4], dimensions={0}, use_global_device_ids=true, backend_config={"async_collective_fusion_config":{"flag_start":"-1"}}
  ROOT %t = (f32[128]{0}, bf16[4,64]{1,0}, bf16[16,64]{1,0}, bf16[16,64]{1,0}) tuple(%e, %q1, %q2, %ag.2)
}

%done_comp (r0: bf16[4,64], r1: bf16[16,64]) -> bf16[16,64] {
  %r0 = bf16[4,64]{1,0} parameter(0)
  %r1 = bf16[16,64]{1,0} parameter(1)
  %ag.3 = bf16[16,64]{1,0} all-gather(%r0), channel_id=7, replica_groups=[1,4]<=[4], dimensions={0}, use_global_device_ids=true, backend_config={"async_collective_fusion_config":{"flag_start":"-1"}}
  ROOT %cc.3 = bf16[16,64]{1,0} custom-call(%r0, %r1, %ag.3), custom_call_target="AsyncCollectiveDone"
}

ENTRY %main (w: bf16[4,64], x: f32[128]) -> bf16[16,64] {
  %w = bf16[4,64]{1,0} parameter(0)
  %x = f32[128]{0} parameter(1)
  %start = (bf16[4,64]{1,0}, bf16[16,64]{1,0}, u32[]) fusion(%w), kind=kCustom, calls=%start_comp
  %s0 = bf16[4,64]{1,0} get-tuple-element(%start), index=0
  %s1 = bf16[16,64]{1,0} get-tuple-element(%start), index=1
  %cont = (f32[128]{0}, bf16[4,64]{1,0}, bf16[16,64]{1,0}, bf16[16,64]{1,0}) fusion(%x, %s0, %s1), kind=kCustom, calls=%cont_comp
  %c1 = bf16[4,64]{1,0} get-tuple-element(%cont), index=1
  %c2 = bf16[16,64]{1,0} get-tuple-element(%cont), index=2
  %done = bf16[16,64]{1,0} fusion(%c1, %c2), kind=kCustom, calls=%done_comp
  ROOT %neg = bf16[16,64]{1,0} negate(%done)
}
"""


def test_an_async_collective_fusion_is_one_collective_that_kernels_overlap():
    """TPU (v5e) spreads one all-gather over a start fusion, continuation fusions that run kernels while it
    progresses, and a done fusion, each holding a copy of it (one channel_id). It moves a [4, 64] bf16
    shard to each of 4 chips once: V = 4 * 4 * 64 * 2 = 2048 bytes, not once per copy (nor the fusions'
    operands, which include the [16, 64] output buffer)."""
    ops = import_hlo(HLO_ASYNC_COLLECTIVE_FUSION, MeshAxes(((FSDP, 4),))).groups[0].ops
    comms = [op for op in ops if isinstance(op, CommOp)]
    assert [(c.collective, c.axis, c.bytes) for c in comms] == [("all_gather", FSDP, 4 * 4 * 64 * 2)]
    cont, neg = (next(op for op in ops if op.name == name) for name in ("cont", "neg"))
    gather = ops.index(comms[0])
    assert gather not in cont.deps  # the continuation's kernel runs while the gather is in flight
    assert gather in neg.deps  # what reads the result waits for the done fusion
    # The continuation's own work is exp over f32[128]: 512 bytes read, 512 written. The shard, the output
    # buffer and the gathered result it hands on (512 + 2048 + 2048 bytes) move over ICI as the gather.
    assert cont.hbm_bytes == 128 * 4 * 2


HLO_ASYNC_SLICES = """
HloModule m, is_scheduled=true

ENTRY %main (w: bf16[4,256,64]) -> bf16[1,256,64] {
  %w = bf16[4,256,64]{2,1,0} parameter(0)
  %slice-start = ((bf16[4,256,64]{2,1,0}), bf16[1,256,64]{2,1,0:S(3)}, s32[]{:S(2)}) slice-start(%w), slice={[1:2], [0:256], [0:64]}
  %slice-done = bf16[1,256,64]{2,1,0:S(3)} slice-done(%slice-start)
  ROOT %neg = bf16[1,256,64]{2,1,0} negate(%slice-done)
}
"""


def test_async_slices_into_on_chip_memory_are_dmas_not_kernels():
    """The compiler prefetches a [1, 256, 64] slice of a stacked buffer into on-chip memory (S(3)) beside
    compute: no kernel of its own (no estimated_cycles); the kernel that reads it reads 32 KiB, writes 32 KiB."""
    ops = import_hlo(HLO_ASYNC_SLICES, MeshAxes(((FSDP, 1),))).groups[0].ops
    assert [op.name for op in ops] == ["neg"]
    assert ops[0].hbm_bytes == 2 * 256 * 64 * 2


HLO_CONCAT_BITCAST = """
HloModule m, is_scheduled=true

ENTRY %main (w: bf16[2,256,64]) -> bf16[2,256,64] {
  %w = bf16[2,256,64]{2,1,0} parameter(0)
  %slice-start = ((bf16[2,256,64]{2,1,0}), bf16[1,256,64]{2,1,0:S(3)}, s32[]{:S(2)}) slice-start(%w), slice={[0:1], [0:256], [0:64]}
  %slice-start.1 = ((bf16[2,256,64]{2,1,0}), bf16[1,256,64]{2,1,0:S(3)}, s32[]{:S(2)}) slice-start(%w), slice={[1:2], [0:256], [0:64]}
  %slice-done = bf16[1,256,64]{2,1,0:S(3)} slice-done(%slice-start)
  %slice-done.1 = bf16[1,256,64]{2,1,0:S(3)} slice-done(%slice-start.1)
  %custom-call.9 = bf16[2,256,64]{2,1,0:S(3)} custom-call(%slice-done, %slice-done.1), custom_call_target="ConcatBitcast"
  ROOT %neg = bf16[2,256,64]{2,1,0} negate(%custom-call.9)
}
"""


def test_a_concat_bitcast_of_async_slices_is_a_view_not_a_kernel():
    """XLA copies the two halves of a [2, 256, 64] buffer into on-chip memory (S(3)) side by side and views
    them as one buffer (custom-call ConcatBitcast, as TPU v4 compiles of attention probabilities do): no
    kernel moves their bytes; the kernel that reads the view is the only one."""
    ops = import_hlo(HLO_CONCAT_BITCAST, MeshAxes(((FSDP, 1),))).groups[0].ops
    assert [op.name for op in ops] == ["neg"]


@NEEDS_TPU_COMPILER
def test_host_offload_copies_become_transfers_over_the_host_link():
    """jax's save_and_offload policy writes each layer's named residual into host memory (S(5)) and reads
    it back for the backward: a device_to_host and a host_to_device copy of its bytes per layer."""
    import jax
    import jax.numpy as jnp
    from jax.ad_checkpoint import checkpoint_name

    from pathsim.mesh.axis import HOST_LINK

    policy = jax.checkpoint_policies.save_and_offload_only_these_names(
        names_which_can_be_saved=[], names_which_can_be_offloaded=["h"], offload_src="device",
        offload_dst="pinned_host")

    def layer(x, w):
        return jnp.sin(checkpoint_name(jnp.sin(x @ w), "h") @ w), None

    def loss(x, ws):
        y, _ = jax.lax.scan(jax.checkpoint(layer, policy=policy), x, ws)
        return y.astype(jnp.float32).sum()

    ops = import_hlo(_compile(jax.grad(loss, argnums=1), (M, K), (3, K, K), backend="tpu")).groups[0].ops
    copies = [op for op in ops if isinstance(op, CommOp) and op.axis == HOST_LINK]
    out = [op.bytes for op in copies if op.collective == "device_to_host"]
    back = [op.bytes for op in copies if op.collective == "host_to_device"]
    assert out == back == [2.0 * M * K] * 3
