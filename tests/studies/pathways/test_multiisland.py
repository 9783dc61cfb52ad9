"""Training steps spanning islands over the DCN (the shipped experiment files, full size: about 5 s each),
simulated as `pathsim run` simulates a training experiment."""

from __future__ import annotations

import pytest

from pathsim.api import simulate_config
from pathsim.config.experiment import read_yaml
from pathsim.studies.pathways import run_pathways_experiment
from pathsim.studies.pathways.config import parse
from tests.support import REPO


def _by_layout(df, section):
    return df[df.section == section].set_index("layout")


@pytest.fixture(scope="module")
def catalog_dcn():
    return run_pathways_experiment(REPO / "experiments" / "pathways_multiisland.yaml", None)


@pytest.fixture(scope="module")
def generic_dcn():
    return run_pathways_experiment(REPO / "experiments" / "pathways_multiisland_generic_dcn.yaml", None)


def test_each_layout_is_the_training_simulation_of_its_experiment(repo, catalog_dcn):
    cfg = parse(read_yaml(repo / "experiments" / "pathways_multiisland.yaml", "experiment"))
    name, exp, topo = cfg.experiments("data_parallel")[1]
    res = simulate_config(exp, topo, record_links=False)
    row = _by_layout(catalog_dcn, "data_parallel").loc[name]
    assert row.step_s == res.metrics.step_time_s and row.mfu == res.metrics.mfu
    assert exp.plan.dcn == {"data": 2} and len(topo.islands) == 2


def test_pipeline_over_4_islands_keeps_one_islands_throughput_transfers_overlapped(catalog_dcn, generic_dcn):
    for df in (catalog_dcn, generic_dcn):
        pipe = _by_layout(df, "pipeline")
        four = pipe.loc["four_islands"]
        assert pipe.chips.nunique() == 1 and four.islands == 4
        assert abs(four.relative_throughput - 1) < 0.03  # the paper: the same throughput
        # Activations cross the DCN for much of the step, hidden behind the other stages' compute.
        assert four.dcn_busy_s > 0.1 * four.step_s
        assert four.exposed_dcn_s < 0.1 * four.dcn_busy_s
        assert pipe.loc["one_island"].dcn_busy_s == 0


def test_a_slower_dcn_keeps_transfers_busy_longer(catalog_dcn, generic_dcn):
    slow, fast = _by_layout(catalog_dcn, "pipeline"), _by_layout(generic_dcn, "pipeline")
    # 6.6e9 vs 2.5e10 B/s per host: the same bytes take about 3.8x as long.
    assert slow.loc["four_islands"].dcn_busy_s > 2 * fast.loc["four_islands"].dcn_busy_s


def test_data_parallel_over_two_islands_pays_the_gradient_exchange(catalog_dcn, generic_dcn):
    for df in (catalog_dcn, generic_dcn):
        dp = _by_layout(df, "data_parallel")
        two = dp.loc["2_islands"]
        assert 0.9 < two.relative_throughput < 1.0
        assert two.exposed_dcn_s > 0  # PaLM's program: the exchange starts once the gradients are reduced
    # The faster DCN loses less.
    assert (_by_layout(generic_dcn, "data_parallel").loc["2_islands"].relative_throughput
            > _by_layout(catalog_dcn, "data_parallel").loc["2_islands"].relative_throughput)
