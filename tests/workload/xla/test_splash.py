"""Splash attention kernels in compiled HLO (workload/xla/splash.py): priced from their shapes, by hand."""

from __future__ import annotations

import pytest

from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import ComputeOp
from pathsim.workload.xla.hlo_import import MeshAxes, import_hlo

# One chip's kernels of a vmapped splash call: 2 sequences, 8 heads, 2048 tokens of 128, blocks of 512 (the
# forward's block sizes in its xprof_metadata; the backward kernels' absent: the catalog's 512).
_Q, _LSE = "bf16[2,8,2048,128]{3,2,1,0}", "f32[2,8,2048,128]{3,2,1,0}"
_META = r'frontend_attributes={kernel_metadata={"xprof_metadata":"{\"block_q\": 512, \"block_kv\": 256}"}}'
HLO = f"""HloModule splash

ENTRY %main (q: bf16[2,8,2048,128], k: bf16[2,8,2048,128], v: bf16[2,8,2048,128], mask: s8[1,4,4]) -> (bf16[2,8,2048,128], bf16[2,8,2048,128]) {{
  %q = {_Q} parameter(0)
  %k = {_Q} parameter(1)
  %v = {_Q} parameter(2)
  %mask = s8[1,4,4]{{2,1,0}} parameter(3)
  %fwd = (f32[2,512,128]{{2,1,0}}, {_Q}, {_LSE}) custom-call(%mask, %q, %k, %v), custom_call_target="tpu_custom_call", {_META}, metadata={{op_name="jit(step)/jvp()/shard_map/vmap(f)/splash_mha_fwd_residuals/pallas_call"}}
  %o = {_Q} get-tuple-element(%fwd), index=1
  %dq = (f32[2,512,128]{{2,1,0}}, {_Q}) custom-call(%mask, %q, %k, %v, %o), custom_call_target="tpu_custom_call", metadata={{op_name="jit(step)/transpose(jvp())/splash_mha_dq_no_residuals/pallas_call"}}
  %dkv = (f32[2,512,128]{{2,1,0}}, {_Q}, {_Q}) custom-call(%mask, %q, %k, %v, %o), custom_call_target="tpu_custom_call", metadata={{op_name="jit(step)/transpose(jvp())/splash_mha_dkv_no_residuals/pallas_call"}}
  %other = {_Q} custom-call(%q), custom_call_target="tpu_custom_call", metadata={{op_name="jit(step)/my_kernel/pallas_call"}}
  ROOT %out = ({_Q}, {_Q}) tuple(%dq, %dkv)
}}
"""


def _ops() -> dict[str, ComputeOp]:
    ops = import_hlo(HLO, MeshAxes(((MeshAxis("ici", "fsdp"), 1),))).groups[0].ops
    return {op.name: op for op in ops if isinstance(op, ComputeOp)}


def test_splash_kernels_run_the_causal_block_pairs():
    ops = _ops()
    q_bytes = 2 * 8 * 2048 * 128 * 2
    # Forward, 512 x 256 blocks: query block i sees key blocks 0 .. 2i+1, 2 + 4 + 6 + 8 = 20 pairs.
    fwd = ops["fwd"]
    assert (fwd.kind, fwd.phase) == ("flash_attention", "forward")
    assert (fwd.matmul.m, fwd.matmul.k, fwd.matmul.n) == (512, 128, 256)
    assert fwd.matmul.batch == 2 * 20 * 8 * 2  # 2 matmuls a pair, 8 heads, 2 sequences
    assert fwd.flops == fwd.matmul.flops
    # Reads Q, K, V; writes O, the statistics and the [512, 128] running buffers.
    assert fwd.hbm_bytes == pytest.approx(3 * q_bytes + q_bytes + 2 * q_bytes + 2 * 512 * 128 * 4)
    # Backward, 512 x 512 blocks: 4 + 3 + 2 + 1 = 10 pairs; 3 matmuls in dq, 4 in dkv.
    assert ops["dq"].phase == ops["dkv"].phase == "backward"
    assert ops["dq"].matmul.batch == 3 * 10 * 8 * 2
    assert ops["dkv"].matmul.batch == 4 * 10 * 8 * 2


def test_a_dkv_kernel_that_writes_dq_too_is_the_fused_backward():
    fused = HLO.replace(f"%dkv = (f32[2,512,128]{{2,1,0}}, {_Q}, {_Q})",
                        f"%dkv = (f32[2,512,128]{{2,1,0}}, {_Q}, {_Q}, {_Q})")
    ops = import_hlo(fused, MeshAxes(((MeshAxis("ici", "fsdp"), 1),))).groups[0].ops
    dkv = next(op for op in ops if op.name == "dkv")
    assert dkv.matmul.batch == 5 * 10 * 8 * 2


def test_another_pallas_kernel_is_no_attention():
    other = _ops()["other"]
    assert other.kind != "flash_attention" and other.matmul is None
