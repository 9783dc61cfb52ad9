"""Programs spanning islands over the DCN (the shipped experiment files, full size: about 1 s each)."""

from __future__ import annotations

from pathsim.studies.pathways import run_pathways_experiment


def _by_layout(df, section):
    return df[df.section == section].set_index("layout")


def test_pipeline_over_4_islands_matches_one_island_with_the_generic_dcn(repo):
    df = run_pathways_experiment(repo / "experiments" / "pathways_multiisland_generic_dcn.yaml", None)
    pipe = _by_layout(df, "pipeline")
    assert abs(pipe.relative_throughput.loc["four_islands"] - 1) < 0.03
    assert pipe.dcn_busy_s.loc["four_islands"] > 0.3 * pipe.step_s.loc["four_islands"]  # overlapped, not free


def test_with_the_catalog_dcn_the_pipeline_is_dcn_bound_and_data_parallel_near_97(repo):
    df = run_pathways_experiment(repo / "experiments" / "pathways_multiisland.yaml", None)
    pipe = _by_layout(df, "pipeline")
    # 6.6e9 B/s per host: a micro-batch's activations cross the DCN slower than a stage computes them.
    assert pipe.relative_throughput.loc["four_islands"] < 0.97
    assert pipe.dcn_busy_s.loc["four_islands"] > 0.8 * pipe.step_s.loc["four_islands"]
    dp = _by_layout(df, "data_parallel")
    assert 0.94 <= dp.relative_throughput.loc["2_islands"] <= 0.99
