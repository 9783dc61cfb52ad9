"""The deadlock scenario, the command line, and bad input (one line, exit code 2)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "pathsim.studies.pathways", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_deadlock_without_gang_scheduler_is_reported_and_gang_scheduling_completes(repo, tmp_path):
    out = tmp_path / "deadlock.csv"
    res = _cli([repo / "experiments" / "pathways_deadlock.yaml", "--out", out], repo)
    assert res.returncode == 3, res.stderr  # a detected deadlock has its own exit status
    df = pd.read_csv(out).set_index("scheduler")
    assert bool(df.deadlocked.loc["none"]) and df.completed.loc["none"] == 0
    assert set(df.computations.loc["none"].split()) == {"program0.step", "program1.step"}
    assert "host0" in df.devices.loc["none"]
    assert not bool(df.deadlocked.loc["gang"]) and df.completed.loc["gang"] == 2
    assert "deadlock: program" in res.stdout


def _bad(tmp_path, repo, name, edit):
    data = yaml.safe_load((repo / "experiments" / name).read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return _cli([path, "--out", tmp_path / "x.csv"], tmp_path)


@pytest.mark.parametrize("name, edit, field", [
    ("pathways_multitenancy.yaml", lambda d: d.update(client_slice=[8, 8, 8]), "client_slice"),
    ("pathways_multitenancy.yaml", lambda d: d["shares"].update(weights=[[1, 0, 2]]), "shares.weights.0.1"),
    ("pathways_multiisland.yaml", lambda d: d["pipeline"]["layouts"][1]["plan"]["dcn"].update(pipeline=3),
     "pipeline.layouts.1.plan.dcn"),
    ("pathways_dispatch.yaml", lambda d: d.update(hosts=[2, 2048]), "hosts.1"),
    ("pathways_deadlock.yaml", lambda d: d.update(kind="pathways_typo"), "kind"),
    ("pathways_deadlock.yaml", lambda d: d.update(kind=["pathways_deadlock"]), "kind"),
    ("pathways_deadlock.yaml", lambda d: d.update(chip="tpu_v99"), "chip"),
    ("pathways_deadlock.yaml", lambda d: d.update(name="../x"), "name"),
    ("pathways_deadlock.yaml", lambda d: d.update(hosts=4096, clients=64), "hosts"),
    ("pathways_dispatch.yaml", lambda d: d.update(hosts=[4, 4]), "hosts"),
    ("pathways_multitenancy.yaml", lambda d: d["throughput"].update(outstanding=10**9), "throughput.outstanding"),
    ("pathways_multitenancy.yaml", lambda d: d.update(island=[64, 64, 64]), "island"),
    ("pathways_multiisland.yaml", lambda d: d["pipeline"].update(model="gpt3_27b"), "pipeline.model"),
    ("pathways_multiisland.yaml", lambda d: d["pipeline"]["layouts"][0]["plan"].update(microbatches=50_000),
     "pipeline.layouts.0.plan.microbatches"),
    ("pathways_multiisland.yaml", lambda d: d["data_parallel"]["layouts"][1].update(islands=[[8, 8, 8]] * 3),
     "data_parallel.layouts.1.plan.dcn"),
    ("pathways_multiisland.yaml", lambda d: d.update(latencies={"rpc_cpu_s": 1e-5}), "latencies"),
])
def test_bad_input_is_one_line_naming_the_field(tmp_path, repo, name, edit, field):
    res = _bad(tmp_path, repo, name, edit)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), res.stderr
