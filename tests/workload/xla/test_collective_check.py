"""The guard on imported programs: collective bytes per mesh axis against what the plan implies."""

from __future__ import annotations

import dataclasses

from pathsim.api import run_experiment
from pathsim.config.experiment import ExperimentConfig, ModelConfig, PlanConfig, TrainingConfig
from pathsim.results.report import result_dict, text_report
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import CommOp, GroupProgram, Program
from pathsim.workload.xla.collective_check import SUSPECT_FACTOR, check_collectives, nominal_bytes
from tests.support import REPO
from tests.workload.xla.conftest import tiny_experiment

FSDP, TENSOR = MeshAxis("ici", "fsdp"), MeshAxis("ici", "tensor")
AXES = ((FSDP, 2), (TENSOR, 2))


def _tiny() -> tuple[ModelConfig, TrainingConfig, PlanConfig]:
    exp = ExperimentConfig.model_validate(tiny_experiment())
    return exp.model, exp.training, exp.plan


def test_nominal_bytes_of_the_tiny_plan_worked_by_hand():
    """3 layers, d_model 256, 4 query heads and 1 K/V head of 64, SwiGLU d_ff 1024, tied vocab 1024;
    tensor 2 x fsdp 2 (2d), 8 sequences of 128, PaLM remat, bf16 throughout."""
    layer = 256 * 256 + 2 * 256 * 64 + 256 * 256 + 3 * 256 * 1024  # q, k and v, o, SwiGLU: 950,272
    weights = (3 * layer + 1024 * 256) / 2  # one tensor shard: 1,556,480
    activation = (8 / 2) * 128 * 256 * 2  # [batch per chip, seq, d_model] bf16: 262,144 B
    assert nominal_bytes(*_tiny(), AXES) == {
        (FSDP, "gather"): 3 * weights * 2,  # forward, backward and recompute
        (FSDP, "reduce"): weights * 2,  # gradients, once
        (TENSOR, "gather"): 3 * 1 * activation * 3,  # 3 layers x 1 block input (parallel) x 3 passes
        (TENSOR, "reduce"): 3 * 1 * activation * 3,
    }


def _program(*comms: tuple[str, MeshAxis, float, str]) -> Program:
    ops = tuple(CommOp(name=name, collective=kind, axis=axis, bytes=nbytes, phase="forward")
                for kind, axis, nbytes, name in comms)
    return Program(groups=(GroupProgram(name="all", coords=(), ops=ops, chips=4),), group_axes=(),
                   computations=("train",))


def test_a_program_within_the_factor_passes_and_one_beyond_it_is_named():
    nominal = nominal_bytes(*_tiny(), AXES)
    fine = _program(*[("all_gather" if fam == "gather" else "all_reduce", axis, v, f"c{k}")
                      for k, ((axis, fam), v) in enumerate(nominal.items())])
    assert not check_collectives(fine, *_tiny(), AXES).suspect
    # The fsdp gathers read 5x over (a start and its done both counted, say), split over two collectives.
    over = _program(("all_gather", FSDP, 4 * nominal[(FSDP, "gather")], "async-collective-done.1"),
                    ("all_gather", FSDP, 1 * nominal[(FSDP, "gather")], "async-collective-start.1"),
                    ("reduce_scatter", FSDP, nominal[(FSDP, "reduce")], "rs"),
                    ("all_gather", TENSOR, nominal[(TENSOR, "gather")], "ag"),
                    ("all_reduce", TENSOR, nominal[(TENSOR, "reduce")], "ar"))
    check = check_collectives(over, *_tiny(), AXES)
    (row,) = check.suspect
    assert (row.axis, row.family, row.ratio) == (FSDP, "gather", 5 * 1.0)
    assert row.collectives == ("async-collective-done.1", "async-collective-start.1")
    assert "gather over ici.fsdp" in row.text() and "5x the plan's" in row.text()


def test_an_axis_moving_too_little_and_an_unplanned_family_are_suspect():
    nominal = nominal_bytes(*_tiny(), AXES)
    # fsdp moves a tenth of its planned bytes; tensor moves its reductions as gathers (windowed einsums'
    # permutes), which passes, plus an all-to-all the plan has no use for.
    tensor_total = nominal[(TENSOR, "gather")] + nominal[(TENSOR, "reduce")]
    program = _program(("all_gather", FSDP, (nominal[(FSDP, "gather")] + nominal[(FSDP, "reduce")]) / 10, "ag"),
                       ("all_gather", TENSOR, tensor_total, "ag2"),
                       ("all_to_all", TENSOR, (SUSPECT_FACTOR + 1) * tensor_total, "a2a"))
    suspect = {(r.axis, r.family) for r in check_collectives(program, *_tiny(), AXES).suspect}
    assert suspect == {(FSDP, "gather"), (FSDP, "reduce"), (TENSOR, "all_to_all")}


def test_the_report_and_the_json_say_a_program_is_suspect_first():
    result = run_experiment(REPO / "experiments" / "palm540b.yaml")
    assert result.collective_check is None and result_dict(result)["collective_check"] is None  # lowered
    nominal = nominal_bytes(*_tiny(), AXES)
    over = _program(("all_gather", FSDP, 10 * nominal[(FSDP, "gather")], "async-collective-done.5"))
    suspect = dataclasses.replace(result, collective_check=check_collectives(over, *_tiny(), AXES))
    text = text_report(suspect)
    assert text.splitlines()[0].startswith("SUSPECT PROGRAM: collective bytes off the plan's by more than 4x")
    assert "gather over ici.fsdp" in text and "async-collective-done.5" in text
    data = result_dict(suspect)["collective_check"]
    assert data["suspect"] and data["factor"] == SUSPECT_FACTOR
    assert {"axis": "ici.fsdp", "family": "gather", "suspect": True}.items() <= data["rows"][0].items()
