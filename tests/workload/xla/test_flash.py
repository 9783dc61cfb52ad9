"""Flash attention in the compiled step (workload/xla/flash.py): JAX's splash kernel inside shard_map, as
MaxText calls it, imported with the lowering's FLOPs."""

from __future__ import annotations

import pytest

from pathsim.config.experiment import parse_experiment
from pathsim.errors import ConfigError
from pathsim.pipeline import lowered_program
from pathsim.workload.program import ComputeOp
from pathsim.workload.xla.hlo_import import import_hlo
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER, tiny_experiment
from tests.workload.xla.test_program import _compile, _configs

FLASH = {"model.attention": "flash", "model.seq_len": 256}


def _flash_ops(ops) -> list[ComputeOp]:
    return [op for op in ops if isinstance(op, ComputeOp) and op.kind == "flash_attention"]


def _both(**overrides) -> tuple[list[ComputeOp], list[ComputeOp], object]:
    """(compiled kernels, lowered ops, the compiled step) of the tiny experiment with flash attention."""
    exp, topo = _configs(**FLASH, **overrides)
    compiled = _compile(exp, topo)
    imported = [op for op in import_hlo(compiled.hlo_text, compiled.mesh).groups[0].ops if isinstance(op, ComputeOp)]
    lowered = [op for op in lowered_program(parse_experiment(tiny_experiment(**FLASH, **overrides))).groups[0].ops
               if isinstance(op, ComputeOp)]
    return imported, lowered, compiled


@NEEDS_TPU_COMPILER
def test_the_compiled_step_runs_splash_kernels_with_the_lowerings_flops():
    """Multi-query heads under tensor 2: each chip slices the one key/value head out for its query heads.
    palm remat recomputes attention: per layer a forward, a recomputed forward, a dq and a dkv kernel."""
    imported, lowered, compiled = _both()
    flash, expected = _flash_ops(imported), _flash_ops(lowered)
    assert sorted(op.phase for op in flash) == sorted(op.phase for op in expected) == \
        ["backward"] * 6 + ["forward"] * 3 + ["remat"] * 3
    assert sum(op.flops for op in flash) == pytest.approx(sum(op.flops for op in expected), rel=1e-9)
    assert not [op for op in imported if op.kind == "attention_matmul"]  # no [T, T] matmul is left
    assert "splash_mha_dkv" in compiled.hlo_text


@NEEDS_TPU_COMPILER
def test_a_policy_that_keeps_the_context_recomputes_no_attention():
    imported, lowered, _ = _both(**{"training.remat": "minimal_with_context"})
    assert not [op for op in _flash_ops(imported) if op.phase == "remat"]
    assert not [op for op in _flash_ops(lowered) if op.phase == "remat"]


@NEEDS_TPU_COMPILER
def test_flash_holds_no_score_matrix():
    """1024 tokens, 4 sequences and 2 heads per chip: dot attention's f32 scores alone are 32 MiB."""
    longer = {"model.seq_len": 1024, "training.remat": "none"}
    dot = _compile(*_configs(**longer))
    flash = _compile(*_configs(**{**longer, "model.attention": "flash"}))
    assert dot.memory_bytes["temp"] - flash.memory_bytes["temp"] > 32 * 2**20


def test_the_local_step_refuses_flash():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    from pathsim.workload.xla.step import LocalStep

    exp = parse_experiment(tiny_experiment(**FLASH, **{"plan.ici": {"fsdp": 1}, "plan.placement": {}}))
    with pytest.raises(ConfigError, match="model.attention"):
        LocalStep(exp.model, exp.training, exp.plan)


@pytest.mark.parametrize("seq_len, ok", [(256, True), (2048, True), (200, False), (1000, False)])
def test_splash_blocks_must_divide_the_sequence(seq_len, ok):
    pytest.importorskip("jax")
    from pathsim.workload.xla.flash import block_sizes

    if ok:
        assert block_sizes(seq_len).block_q == min(512, seq_len)
    else:
        with pytest.raises(ConfigError, match="model.seq_len"):
            block_sizes(seq_len)
