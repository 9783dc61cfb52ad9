"""The step run from concrete inputs on the devices at hand (LocalStep): what the calibration times."""

from __future__ import annotations

import math

import pytest

from pathsim.calibration.cases import cases, experiment
from pathsim.workload.model import total_params


def test_the_steps_parameters_are_pathsims_count():
    jax = pytest.importorskip("jax")
    pytest.importorskip("optax")
    from pathsim.workload.xla.mesh import local_mesh, mesh_plan
    from pathsim.workload.xla.step import build_step, concrete_args

    exp = experiment(cases("tiny", 1)[1])
    mp = mesh_plan(exp.plan)
    spec = build_step(exp.model, exp.training, mp, local_mesh(mp))
    params, _, tokens = concrete_args(exp.model, exp.training, spec)
    assert sum(x.size for x in jax.tree.leaves(params)) == total_params(exp.model)
    assert tokens.shape == (exp.training.global_batch_seqs, exp.model.seq_len)
    assert all(float(params[k].min()) == 1.0 for k in ("final_norm", "layers.norm1", "layers.norm2"))


def test_a_local_step_runs_and_updates_its_parameters():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    from pathsim.calibration.cases import train_step

    step = train_step(cases("tiny", 1)[0])
    before = float(step.args[0]["embed"].sum())
    first, second = float(step.run()), float(step.run())
    assert math.isfinite(first) and math.isfinite(second)
    assert float(step.args[0]["embed"].sum()) != before
    flops, hlo = step.compiled_cost()
    assert flops > 0 and "ENTRY" in hlo
