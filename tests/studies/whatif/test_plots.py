"""Plots as a user reads them: aliases, log axes, titles, labels, the legend beside the data, invalid
plans marked. Drawn on the Agg backend, checked on the matplotlib objects."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from pathsim.errors import ConfigError
from pathsim.studies.whatif.plots import label, plot_metric

matplotlib.use("Agg")


def _frame() -> pd.DataFrame:
    """A batch sweep: 256 to 2048 run, 4096 does not fit, 8192 cannot be built (batch does not split)."""
    batch = [256, 512, 1024, 2048, 4096, 8192]
    return pd.DataFrame({
        "plan_key": [str(b) for b in batch], "training.global_batch_seqs": batch,
        "status": ["ok"] * 4 + ["out_of_memory", "invalid"],
        "mfu": [0.6360, 0.6362, 0.6365, 0.6368, None, None],
        "screen.mfu": [0.63, 0.63, 0.63, 0.63, 0.64, None]})


def test_an_alias_a_base_2_log_axis_a_title_and_readable_labels():
    ax = plot_metric(_frame(), "training.batch", "mfu", logx=True)
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert ax.get_xlabel() == "global batch (sequences)" and ax.get_ylabel() == "MFU"
    assert ax.get_title() == "MFU against global batch (sequences)"
    assert plot_metric(_frame(), "training.batch", logx=True, title="mine").get_title() == "mine"


def test_mfu_ticks_that_differ_by_a_tenth_of_a_point_read_differently():
    """Percent labels with no decimals repeated themselves (64%, 64%, 64%) on a narrow range."""
    ax = plot_metric(_frame(), "training.global_batch_seqs")
    ax.get_figure().canvas.draw()
    shown = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(shown) > 1 and len(set(shown)) == len(shown), shown


def test_the_legend_is_beside_the_axes_and_invalid_plans_are_marked():
    ax = plot_metric(_frame(), "training.global_batch_seqs")
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "does not fit in HBM (screen)" in texts and "invalid plan (cannot be built)" in texts
    ax.get_figure().canvas.draw()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # right of the data, not over it
    (marks,) = [c for c in ax.collections if c.get_label() == "invalid plan (cannot be built)"]
    assert list(marks.get_offsets()[:, 0]) == [8192]


def test_a_log_axis_of_values_that_do_not_double_is_base_10_and_refuses_zero():
    frame = _frame().assign(**{"training.global_batch_seqs": [100, 300, 1000, 3000, 10000, 30000]})
    assert plot_metric(frame, "training.global_batch_seqs", logx=True).xaxis.get_transform().base == 10
    with pytest.raises(ConfigError, match="--logx: a log axis needs positive values"):
        plot_metric(frame.assign(**{"training.global_batch_seqs": 0}), "training.global_batch_seqs", logx=True)


@pytest.mark.parametrize("column, shown", [("plan.ici.tensor", "ici tensor degree"),
                                           ("topology.overrides.ici_link_bytes_per_s", "ici link (B/s)"),
                                           ("step_time_s", "step time (s)"), ("chips", "chips")])
def test_labels(column, shown):
    assert label(column) == shown
