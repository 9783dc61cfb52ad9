"""The catalog's compiler HBM limits are what the compiler says."""

from __future__ import annotations

import pytest

from pathsim.catalog.xla_flags import COMPILER_HBM_GIB
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER


@NEEDS_TPU_COMPILER
@pytest.mark.parametrize("chip", ["tpu_v5e", "tpu_v6e"])
def test_the_catalog_holds_the_compilers_available_hbm(chip, monkeypatch):
    from pathsim.studies.compiler_hbm import available_gib

    monkeypatch.setenv("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    assert available_gib(chip) == COMPILER_HBM_GIB[chip]
