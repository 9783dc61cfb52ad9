from typing import get_args

from pathsim.catalog.hardware import chip_spec
from pathsim.config.experiment import ExperimentConfig
from pathsim.costs.registry import COST_MODELS, cost_model_named


def test_every_cost_model_an_experiment_can_name_is_registered_with_its_source():
    names = set(get_args(ExperimentConfig.model_fields["cost_model"].annotation))
    assert names == {n for n, e in COST_MODELS.items() if e.build is not None}
    assert all(e.source for e in COST_MODELS.values()) and COST_MODELS["calibrated"].build is None
    chip = chip_spec("tpu_v4")
    assert cost_model_named("roofline", chip).name == "analytic roofline (spec sheet)"
    assert cost_model_named("tpu_kernels", chip).name.startswith("TPU kernel model")
