"""The XLA/libtpu flag sets a step compiles with: MaxText's per chip by default, libtpu's, or the user's."""

from __future__ import annotations

import pytest

from pathsim.catalog.xla_flags import FLAG_SETS, MAXTEXT_BY_CHIP, CompileFlags, resolve_flags
from pathsim.config.experiment import ExperimentConfig
from pathsim.errors import ConfigError
from tests.workload.xla.conftest import tiny_experiment


@pytest.mark.parametrize("chip, name", sorted(MAXTEXT_BY_CHIP.items()))
def test_the_default_is_the_chips_maxtext_launch_flags(chip, name):
    flags = resolve_flags("maxtext", chip)
    assert flags == CompileFlags(name, FLAG_SETS[name].flags) and flags.flags
    assert "--xla_enable_async_all_gather=true" in flags.flags  # every MaxText script turns it on


def test_every_set_is_sourced_and_spelled_as_flags():
    for flag_set in FLAG_SETS.values():
        assert flag_set.source
        assert all(f.startswith("--") and " " not in f for f in flag_set.flags)
    assert resolve_flags("libtpu", "tpu_v4").flags == ()
    assert resolve_flags("maxtext_v5p", "tpu_v4").name == "maxtext_v5p"  # a set may be asked for on any chip
    assert resolve_flags(["--xla_a=1", "--xla_b"], "tpu_v4") == CompileFlags("custom", ("--xla_a=1", "--xla_b"))
    assert CompileFlags("libtpu", ()).text() == "libtpu (none)"


def test_bad_flags_name_the_field():
    with pytest.raises(ConfigError, match="xla_flags: unknown flag set 'maxtext_v9'"):
        resolve_flags("maxtext_v9", "tpu_v4")
    with pytest.raises(ConfigError, match="'xla_a=1' is not one flag"):
        resolve_flags(["xla_a=1"], "tpu_v4")
    with pytest.raises(ConfigError, match="MaxText has no launch flags for 'gpu_h100'"):
        resolve_flags("maxtext", "gpu_h100")
    exp = tiny_experiment()
    assert ExperimentConfig.model_validate(exp).xla_flags == "maxtext"
    with pytest.raises(Exception, match="xla_flags"):
        ExperimentConfig.model_validate({**exp, "xla_flags": ["--a=1 --b=2"]})
