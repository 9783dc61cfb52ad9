"""Cloud TPU slice names: the table, the name parser and its refusals."""

from __future__ import annotations

import math

import pytest

from pathsim.catalog.hardware import chip_spec
from pathsim.catalog.slices import SLICES, GENERATIONS, is_slice_name, slice_named
from pathsim.config.experiment import parse_topology, slice_topology_data
from pathsim.errors import ConfigError
from pathsim.platform.topology import build_cluster


def test_names_count_tensorcores_on_v4_and_v5p_and_chips_on_v5e_and_v6e():
    assert slice_named("v5p-1024").chips_per_slice == 512  # 8x8x8
    assert slice_named("v4-128").shape == (4, 4, 4)
    assert slice_named("v6e-256").chips_per_slice == 256
    assert slice_named("v5litepod-256").name == "v5e-256"


def test_several_slices():
    s = slice_named("v5e-256x4")
    assert (s.name, s.slices, s.chip) == ("v5e-256", 4, "tpu_v5e")
    assert slice_named("v6e-256", slices=2).slices == 2
    with pytest.raises(ConfigError, match="already gives the number of slices"):
        slice_named("v6e-256x2", slices=2)


@pytest.mark.parametrize("name", sorted(SLICES))
def test_every_named_slice_builds_with_the_wraparound_the_table_gives(name):
    s = slice_named(name)
    cluster = build_cluster(parse_topology(slice_topology_data(s)))
    (island,) = cluster.islands
    assert island.shape == s.shape and cluster.chip.name == s.chip
    assert island.wraparound == s.wraparound  # the chip's rule agrees with MaxText's table, slice by slice
    assert math.prod(s.shape) <= chip_spec(s.chip).max_slice_chips


@pytest.mark.parametrize("text, message", [
    ("v5e-300", "no v5e slice is named v5e-300; valid: v5e-1, v5e-4, v5e-8, v5e-16, v5e-32, v5e-64, v5e-128, v5e-256"),
    ("v4-6", "no v4 slice is named v4-6; valid: v4-8,"),
    ("v5e-256x0", "the number of slices must be at least 1"),
    ("v9-8", "is not a slice name"),
])
def test_bad_names_are_refused_naming_the_valid_ones(text, message):
    with pytest.raises(ConfigError, match=message):
        slice_named(text, "topology")


def test_file_names_are_not_slice_names():
    assert is_slice_name("v5e-256") and is_slice_name("v5e-7")
    assert not is_slice_name("topologies/tpu_v5e_256.yaml") and not is_slice_name("v5e_256")
    assert not is_slice_name("v5e-\u0662\u0665\u0666")  # 256 in Arabic-Indic digits is not a Cloud TPU name
    assert set(GENERATIONS.values()) == {"tpu_v4", "tpu_v5p", "tpu_v5e", "tpu_v6e"}


def test_the_docs_list_every_slice_name(repo):
    text = (repo / "docs" / "topologies.md").read_text()
    missing = [name for name in SLICES if f"| `{name}` | {SLICES[name][0]} |" not in text]
    assert missing == []
