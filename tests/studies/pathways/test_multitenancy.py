"""Several clients sharing an island, at reduced size."""

from __future__ import annotations

from pathsim.studies.pathways import multitenancy
from pathsim.studies.pathways.config import parse

BASE = {"kind": "pathways_multitenancy", "name": "t", "chips_per_host": 8, "island": [4, 4, 2]}


def test_throughput_never_below_one_client_and_several_clients_saturate():
    cfg = parse({**BASE, "throughput": {"clients": [1, 2, 4, 16], "program_times_s": [0.04e-3, 0.33e-3, 1.04e-3, 2.4e-3],
                                        "horizon_s": 0.04, "warmup_s": 0.01}})
    df = multitenancy.run(cfg)
    for _, group in df.groupby("program_s"):
        single = group[group.clients == 1].programs_per_s.iloc[0]
        assert (group.programs_per_s >= single * 0.999).all()
    mid = df[df.program_s == 0.33e-3].set_index("clients").utilization
    assert mid.loc[1] < 0.6  # one client waits on each result: the devices idle between programs
    assert mid.loc[4] > 0.99 and mid.loc[16] > 0.99


def test_proportional_shares_within_2_percent():
    cfg = parse({**BASE, "shares": {"weights": [[1, 1, 1, 1], [1, 2, 4, 8]], "program_s": 1.04e-3,
                                    "horizon_s": 0.6, "warmup_s": 0.02}})
    df = multitenancy.run(cfg)
    assert (df.share_error.abs() < 0.02).all()
    assert (df.utilization > 0.99).all()


def test_fifo_with_asynchronous_clients_saturates():
    # Four clients that do not wait on results keep the devices busy under FIFO.
    cfg = parse({**BASE, "throughput": {"clients": [4], "program_times_s": [1.04e-3], "outstanding": 8,
                                        "horizon_s": 0.1, "warmup_s": 0.01}})
    assert multitenancy.run(cfg).utilization.iloc[0] > 0.99


def test_hbm_back_pressure_stalls_only_when_buffers_do_not_fit():
    cfg = parse({**BASE, "backpressure": {"program_s": 1.0e-3, "hbm_fractions": [0.1, 0.6],
                                          "horizon_s": 0.03, "warmup_s": 0.005}})
    df = multitenancy.run(cfg).set_index("hbm_fraction")
    assert df.hbm_stalled_s.loc[0.1] == 0.0
    assert df.hbm_stalled_s.loc[0.6] > 0.0
