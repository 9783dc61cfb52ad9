"""Shared test inputs: the repository root and a small valid experiment."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def small_experiment(**overrides) -> dict:
    """A small, valid experiment as a dict: 64 TPU v4 chips (4x4x4), a 4-layer model."""
    exp = {
        "name": "small",
        "topology": str(REPO / "topologies" / "tpu_v4_4x4x4.yaml"),
        "model": {"n_layers": 4, "d_model": 1024, "n_heads": 8, "d_ff": 4096, "vocab_size": 32000,
                  "seq_len": 512, "block": "serial", "mlp": "gelu", "tied_embeddings": True},
        "training": {"global_batch_seqs": 64, "remat": "none"},
        "plan": {"ici": {"tensor": 4, "fsdp": 16}},
    }
    return with_overrides(exp, overrides)


def placement_of(exp, cluster):
    """The experiment's plan placed on the cluster (a test of placement alone needs no program)."""
    from pathsim.mesh.plan import mesh_of
    from pathsim.placement.mesh_axes import place

    return place(exp.plan, mesh_of(exp.plan), cluster)


def memory_of(exp, cluster):
    """Per-chip memory of the experiment's plan on the cluster's chip."""
    from pathsim.workload.memory import memory_use
    from pathsim.pipeline import resolve

    inputs = resolve(exp, chip=cluster.chip.name)
    return memory_use(inputs.shard, inputs.lowering.weight_prefetch_layers, cluster.chip.hbm_bytes)


def with_overrides(exp: dict, overrides: dict) -> dict:
    """`exp` with dotted keys (`"model.n_layers": 2`) set, in place."""
    for dotted, value in overrides.items():
        node = exp
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return exp


def _proc_stat(pid: str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...)."""
    try:
        stat = (Path("/proc") / pid / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def live_pids(where) -> list[int]:
    """Live (not zombie) processes whose stat fields satisfy `where(fields)`."""
    found = []
    for d in Path("/proc").iterdir():
        fields = _proc_stat(d.name) if d.name.isdigit() else None
        if fields and fields[0] != "Z" and where(fields):
            found.append(int(d.name))
    return found


def session_pids(sid: int) -> list[int]:
    return live_pids(lambda f: int(f[3]) == sid)


def all_gone(pids, within_s: float) -> bool:
    """Whether processes `pids()` are all gone within a bounded wait; any left are killed (a failing
    test leaves nothing behind)."""
    deadline = time.monotonic() + within_s
    while pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = pids()
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return not left


def session_gone(sid: int, within_s: float) -> bool:
    return all_gone(lambda: session_pids(sid), within_s)
