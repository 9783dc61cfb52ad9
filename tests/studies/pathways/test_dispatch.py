"""The dispatch micro-benchmark at reduced size: the shapes of the paper's figure."""

from __future__ import annotations

import pytest

from pathsim.catalog.hardware import CHIPS
from pathsim.catalog.latencies import LATENCIES
from pathsim.studies.pathways import dispatch
from pathsim.studies.pathways.config import parse
from pathsim.studies.pathways.costs import balanced_shape, benchmark_computation_s, island


def _cfg(**kw):
    base = {"kind": "pathways_dispatch", "name": "t", "hosts": [2], "modes": ["jax_opbyop"], "calls": 3,
            "opbyop_calls": 12}
    return parse({**base, **kw})


def _rates(cfg):
    df = dispatch.run(cfg)
    return df.pivot(index="hosts", columns="mode", values="computations_per_s")


def test_computation_time_is_the_scalar_all_reduce():
    # 2048 chips = 8x16x16, every dim wraps: 4 + 8 + 8 hops each way, twice for an all-reduce, 1 us each.
    chip = CHIPS["tpu_v4"]
    isl = island(balanced_shape(2048, 3, "h"), chip, "h")
    assert isl.shape == (8, 16, 16)
    assert benchmark_computation_s(isl, chip, LATENCIES) == pytest.approx(LATENCIES.device_program_s + 40e-6)


def test_fused_matches_multi_controller_up_to_about_1000_chips_then_falls_behind():
    rates = _rates(_cfg(hosts=[2, 16, 64, 128, 256, 512], modes=["jax_fused", "pathways_fused"]))
    ratio = rates.pathways_fused / rates.jax_fused
    assert (ratio.loc[:128] > 0.97).all()  # up to 512 chips
    assert ratio.loc[256] > 0.85  # 1024 chips: about matching
    assert ratio.loc[512] < 0.7  # 2048 chips: the single controller's fan-out dominates


def test_chained_beats_multi_controller_opbyop_up_to_256_chips():
    rates = _rates(_cfg(hosts=[2, 8, 32, 64], modes=["jax_opbyop", "pathways_chained"]))
    assert (rates.pathways_chained > rates.jax_opbyop).all()


def test_opbyop_pays_the_fan_out_and_parallel_beats_sequential():
    rates = _rates(_cfg(hosts=[2, 16], modes=["jax_opbyop", "pathways_opbyop", "pathways_opbyop_sequential"]))
    assert (rates.pathways_opbyop < rates.jax_opbyop).all()
    assert (rates.pathways_opbyop_sequential < rates.pathways_opbyop).all()
    # Oracle: parallel async dispatch is bound by the scheduler's CPU per computation.
    lat = LATENCIES
    per = lat.rpc_cpu_s + lat.controller_work_s + 16 * lat.rpc_cpu_s
    assert rates.pathways_opbyop.loc[16] == pytest.approx(1 / per, rel=0.01)


def test_threshold_is_the_single_controller_cost_and_grows_with_hosts():
    cfg = _cfg(threshold={"points": [{"hosts": 16, "chips_per_host": 8, "paper_s": 2.3e-3},
                                     {"hosts": 64, "chips_per_host": 4}], "calls": 8})
    rows = dispatch.threshold_rows(cfg)
    lat = LATENCIES
    for row in rows:
        # Matching 98% of JAX means the computation hides 98% of the scheduler's per-computation work.
        per = lat.rpc_cpu_s + lat.controller_work_s + row["hosts"] * lat.rpc_cpu_s
        assert row["threshold_s"] == pytest.approx(0.98 * per, rel=0.02)
    assert rows[1]["threshold_s"] > rows[0]["threshold_s"]
