"""Bad and extreme input, by class: every case ends in one `error: <field>: ...` line with exit 2, or exit 0
(3 for a detected deadlock, 4 for a plan that does not fit) with finite numbers; never a traceback, never
a hang.

Cases run in-process through `pathsim.cli.main` (fast) under a per-case time bound (SIGALRM). The hand-made
cases cover what fuzzing found; a seeded mutation of the shipped files adds hostile values at random leaves.
The per-class counts are printed (pytest -s) and checked.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import random
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from pathsim.cli import main
from pathsim.config.experiment import resolve_model
from tests.support import REPO

CASE_SECONDS = 20  # the slowest accepted case (a 512-chip full-mode run) takes about 2 s here
EXP, TOPO = REPO / "experiments", REPO / "topologies"
BAD_FLOATS = [0.0, -1.0, math.nan, math.inf, -math.inf, 1e-300, 1e300]


class Hang(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    kind: str  # "error" (exit 2, one line), "finite" (exit 0/3/4, finite numbers), "traceback", "hang", "bad"
    detail: str = ""


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def run_case(argv: list[str]) -> Outcome:
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(CASE_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Hang:
        return Outcome("hang", " ".join(argv))
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - a traceback is what this test exists to catch
        return Outcome("traceback", f"{type(exc).__name__}: {exc}"[:300])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    lines = err.getvalue().strip().splitlines()
    if code == 2:
        ok = len(lines) == 1 and lines[0].startswith("error: ") and lines[0].count(":") >= 2
        return Outcome("error" if ok else "bad", err.getvalue()[:300])
    if code in (0, 3, 4):  # done; a deadlock detected; a plan that does not fit in HBM (still reported)
        text = out.getvalue()
        try:
            finite = _finite(json.loads(text))
        except ValueError:  # a text report: no nan or inf printed anywhere
            finite = re.search(r"\b(nan|inf)\b", text, re.IGNORECASE) is None
        return Outcome("finite" if finite else "bad", text[-300:])
    return Outcome("bad", f"exit {code}: {err.getvalue()[:300]}")


# --- building cases ------------------------------------------------------------------------------------
def load(name: str) -> dict:
    return yaml.safe_load((EXP / name).read_text())


def topology(name: str) -> dict:
    return yaml.safe_load((TOPO / name).read_text())


class Cases:
    """Files written into a temporary folder, each with the argv that runs it, grouped by class."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[tuple[str, list[str]]] = []

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.root / f"{len(self.items)}_{name}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def add(self, cls: str, data: dict | str | bytes, json_output: bool = True) -> None:
        content = data if isinstance(data, (str, bytes)) else yaml.safe_dump(data, sort_keys=False)
        path = self.file("case.yaml", content)
        flags = ["--json"] if json_output else ["--out", str(self.root / f"{len(self.items)}_out.csv")]
        self.items.append((cls, ["run", str(path), *flags]))

    def experiment(self, cls: str, base: str, edit: Callable[[dict], Any], topo_edit=None) -> None:
        data = load(base)
        data["model"] = resolve_model(data["model"])  # a library name as its fields, which the cases edit
        data["topology"] = str((EXP / data["topology"]).resolve())
        if topo_edit is not None:
            topo = yaml.safe_load(Path(data["topology"]).read_text())
            topo_edit(topo)
            data["topology"] = str(self.file("topo.yaml", yaml.safe_dump(topo)))
        edit(data)
        self.add(cls, data)


def set_path(data: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def setter(dotted: str, value: Any) -> Callable[[dict], None]:
    return lambda d: set_path(d, dotted, value)


def encoding_cases(c: Cases) -> None:
    text = (EXP / "palm540b.yaml").read_text()
    c.add("encoding", bytes(random.Random(1).randrange(256) for _ in range(2000)))
    c.add("encoding", text.encode("utf-16"))
    c.add("encoding", text.encode()[:200] + b"\xff\xfe\x80" + text.encode()[200:])
    c.add("encoding", text.replace("palm540b", "pa\x00lm", 1))
    binary = c.file("binary.yaml", bytes(range(256)) * 8)
    c.experiment("encoding", "palm540b.yaml", setter("topology", str(binary)))
    c.experiment("encoding", "palm540b.yaml", setter("topology", str(c.root)))
    c.experiment("encoding", "palm540b.yaml", setter("topology", "a\x00b.yaml"))
    c.experiment("encoding", "palm540b.yaml", setter("calibration", {"profile": str(c.root)}))
    c.items.append(("encoding", ["run", str(c.root), "--json"]))


def yaml_cases(c: Cases) -> None:
    c.add("yaml", "a: " + "[" * 5000 + "]" * 5000)
    c.add("yaml", "".join(" " * i + "a:\n" for i in range(3000)) + " " * 3000 + "1\n")
    base = (EXP / "palm540b.yaml").read_text()
    c.add("yaml", base.replace("n_layers: 118", "n_layers: " + "9" * 5000))
    c.add("yaml", base.replace("n_layers: 118", "n_layers: 118\n  n_layers: 2"))
    c.add("yaml", base + "name: other\n")
    c.add("yaml", base.replace("d_model: 18432", "d_model: " + "1" * 400 + ".0"))
    c.add("yaml", "a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)))
    c.add("yaml", "a: &a {b: *a}\n")
    c.add("yaml", "x: &a\n  ? " + "k" * 100_000 + "\n  : 1\ny: [" + ",".join(["*a"] * 100_000) + "]\n")
    c.add("yaml", "")
    c.add("yaml", "- just\n- a list\n")
    c.add("yaml", "model: {n_layers: 1\n")
    stragglers = {"scenario": {"stragglers": [{"chip": [0, 0, 0], "slowdown": 1.1}] * 300_000}}
    c.experiment("yaml", "palm540b.yaml", lambda d: d.update(stragglers))
    dispatch = load("pathways_dispatch.yaml")
    dispatch["hosts"] = list(range(1, 30_000))
    c.add("yaml", dispatch)


def override_cases(c: Cases) -> None:
    keys = ["ici_link_bytes_per_s", "dcn_bytes_per_s_per_host", "hbm_bytes_per_s", "peak_bf16_flops_per_s",
            "ici_hop_latency_s"]
    for key in keys:
        for value in BAD_FLOATS:
            c.experiment("overrides", "palm540b.yaml", lambda d: None,
                         topo_edit=lambda t, k=key, v=value: t.setdefault("overrides", {}).update({k: v}))


def scenario_cases(c: Cases) -> None:
    for value in BAD_FLOATS:
        c.experiment("scenario", "palm8b_512_straggler.yaml", setter("scenario.stragglers.0.slowdown", value))
    fields = ["chip_failures_per_hour", "host_failures_per_hour", "checkpoint_interval_s", "checkpoint_write_s",
              "restart_s", "train_tokens"]
    for field in fields:
        for value in (-1.0, math.nan, math.inf, 1e300, 1e-300):
            c.experiment("scenario", "palm540b_failures.yaml", setter(f"scenario.failures.{field}", value))
    c.experiment("scenario", "palm540b_failures.yaml", setter("scenario.failures.seed", -5))


def plan_cases(c: Cases) -> None:
    for dims in (["y", "y"], ["x:8", "x:1"], ["y:0"], ["q"], ["y:abc"], ["y:16", "z"]):
        c.experiment("plan", "palm8b_512_straggler.yaml", setter("plan.placement.fsdp", dims))
    c.experiment("plan", "palm540b.yaml", setter("runtime.weight_prefetch_layers", 10**6))
    c.experiment("plan", "palm540b.yaml", setter("runtime.weight_prefetch_layers", 1000))
    c.experiment("plan", "palm540b.yaml", lambda d: d["model"].update(n_layer=d["model"].pop("n_layers")))
    c.experiment("plan", "palm540b.yaml", lambda d: d["plan"].update(ici={"model": 12, "fsdp": 256}))
    c.experiment("plan", "palm540b.yaml", lambda d: d["model"].pop("mlp"))
    c.experiment("plan", "palm540b.yaml", setter("plan.ici.tensor", 10**40))
    c.experiment("plan", "palm540b.yaml", setter("plan.placement.fsdp", ["y"] * 30_000))


def link_cases(c: Cases) -> None:
    around = [{"chip": [3, 3, 3], "dim": d, "factor": 0.0} for d in "xyz"]
    around += [{"chip": [3 - (d == "x"), 3 - (d == "y"), 3 - (d == "z")], "dim": d, "factor": 0.0} for d in "xyz"]
    c.experiment("links", "palm8b_512_failed_link.yaml", setter("scenario.links", around))
    cut = [{"chip": [x, y, z], "dim": "x", "factor": 0.0} for x in (3, 7) for y in range(8) for z in range(8)]
    c.experiment("links", "palm8b_512_failed_link.yaml", setter("scenario.links", cut))
    twice = [{"chip": [3, 3, 3], "dim": "y", "factor": 0.0}] * 2
    c.experiment("links", "palm8b_512_failed_link.yaml", setter("scenario.links", twice))
    c.experiment("links", "palm8b_512_failed_link.yaml", setter("scenario.links.0.factor", math.nan))
    c.experiment("links", "palm8b_512_failed_link.yaml", setter("scenario.links.0.chip", [9, 0, 0]))


def size_cases(c: Cases) -> None:
    c.experiment("size", "palm540b.yaml", setter("model.n_layers", 10**6))
    c.experiment("size", "palm540b.yaml", setter("model.n_layers", 90_000))
    c.experiment("size", "palm540b.yaml", lambda d: d["plan"].update(
        ici={"tensor": 12, "fsdp": 64, "pipeline": 4}, microbatches=4096, placement={}))
    c.experiment("size", "palm540b_failures.yaml", setter("scenario.failures.checkpoint_interval_s", 1e-6))
    c.experiment("size", "palm540b_failures.yaml", lambda d: d["scenario"]["failures"].update(
        chip_failures_per_hour=0.5, checkpoint_interval_s=3600))
    c.experiment("size", "palm540b_failures.yaml", lambda d: d["scenario"]["failures"].update(
        host_failures_per_hour=1e-3, checkpoint_interval_s=1e6))
    c.experiment("size", "palm540b.yaml", lambda d: d.update(scenario={"mode": "full"}) or set_path(
        d, "model.n_layers", 1000))


def pathways_cases(c: Cases) -> None:
    edits: list[tuple[str, Callable[[dict], Any]]] = [
        ("pathways_dispatch.yaml", setter("hosts", [2, 2, 4])),
        ("pathways_dispatch.yaml", setter("hosts", [10**40])),
        ("pathways_dispatch.yaml", setter("hosts", [1024] * 3 + [512])),
        ("pathways_dispatch.yaml", setter("chain_length", 10**9)),
        ("pathways_dispatch.yaml", setter("threshold.calls", 10**6)),
        ("pathways_multitenancy.yaml", setter("island", [10**6, 10**6, 10**6])),
        ("pathways_multitenancy.yaml", setter("throughput.outstanding", 10**9)),
        ("pathways_multitenancy.yaml", setter("throughput.clients", [1, 1])),
        ("pathways_multitenancy.yaml", setter("throughput.program_times_s", [1e-12])),
        ("pathways_multitenancy.yaml", setter("latencies", {"rpc_cpu_s": 1e-300})),
        ("pathways_multiisland.yaml", setter("pipeline.model", "gpt3_27b")),
        ("pathways_multiisland.yaml", setter("pipeline.model", {"base": "gpt3_2.7b", "d_model": math.inf})),
        ("pathways_multiisland.yaml", setter("pipeline.layouts.0.plan.microbatches", 10**7)),
        ("pathways_multiisland.yaml", setter("data_parallel.layouts.1.plan.dcn.data", 10**12)),
        ("pathways_multiisland.yaml", setter("pipeline.layouts.1.islands", [[10**5, 10**5, 10**5]])),
        ("pathways_multiisland.yaml", setter("pipeline.layouts", [])),
        ("pathways_deadlock.yaml", setter("kind", ["pathways_deadlock"])),
        ("pathways_deadlock.yaml", setter("kind", {"a": 1})),
        ("pathways_deadlock.yaml", setter("name", "../../etc/x")),
        ("pathways_deadlock.yaml", setter("name", "a\x00b")),
        ("pathways_deadlock.yaml", setter("chip", "tpu_v99")),
        ("pathways_deadlock.yaml", setter("hosts", 10**9)),
        ("pathways_deadlock.yaml", setter("schedulers", ["gang", "gang"])),
        ("pathways_deadlock.yaml", setter("schedulers", ["gang"] * 30_000)),
        ("pathways_dispatch.yaml", setter("modes", ["jax_fused"] * 30_000)),
        ("pathways_deadlock.yaml", setter("computation_s", math.nan)),
        ("pathways_deadlock.yaml", lambda d: None),
        ("pathways_multitenancy.yaml", lambda d: [d.pop(k) for k in ("throughput", "backpressure")]),
        ("pathways_multitenancy.yaml", lambda d: [d.pop(k) for k in ("throughput", "shares", "backpressure")]),
        ("pathways_multiisland.yaml", small_multiisland),
        ("pathways_multiisland.yaml", lambda d: [d.pop(k) for k in ("pipeline", "data_parallel")]),
        ("pathways_deadlock.yaml", setter("hosts", 4096)),
    ]
    for k, (name, edit) in enumerate(edits):
        data = load(name)
        edit(data)
        c.add("pathways", data, json_output=k % 2 == 0)  # the printed summary as well as the rows


def jobs_cases(c: Cases) -> None:
    def pod(edit: Callable[[dict], Any]) -> None:
        data = load("shared_pod_ocs_true.yaml")
        data["pod"] = str((EXP / data["pod"]).resolve())
        for job in data["jobs"]:
            job["experiment"] = str((EXP / job["experiment"]).resolve())
        edit(data)
        c.add("jobs", data)

    binary = c.file("binary.yaml", bytes(range(256)) * 8)
    pod(setter("pod", str(binary)))
    pod(setter("jobs.1.experiment", str(c.root)))
    pod(setter("jobs.1.name", "a"))
    pod(setter("jobs.1.origin", [0, 0, 10**40]))
    pod(setter("jobs.1.origin", [0, 0, 4]))
    pod(lambda d: d.update(jobs=d["jobs"] * 40))
    pod(lambda d: d.update(ocs="yes"))


HOSTILE = [0, -1, 1, 2, 2**31, 10**40, 0.0, -1.0, 0.5, 1e-6, 1e6, 1e-300, 1e300, math.nan, math.inf, "", "x" * 300,
           True, None, [], {}, [1] * 1000, {"a": 1}]
def small_dispatch(d: dict) -> None:
    d.update(hosts=[2, 8], threshold={"points": [{"hosts": 4, "chips_per_host": 4}], "calls": 4})


def small_multiisland(d: dict) -> None:
    """The data-parallel comparison only, on a 2-layer model."""
    d.pop("pipeline")
    d["data_parallel"]["model"] = {"base": "palm62b", "n_layers": 2}


def short_tenancy(d: dict) -> None:
    for name in ("throughput", "shares", "backpressure"):
        d[name]["horizon_s"] = d[name]["horizon_s"] / 10
        d[name]["warmup_s"] = d[name]["warmup_s"] / 10
    d["throughput"]["clients"] = [1, 4, 16]


# Shipped files mutated at random (each prepared to run in well under a second when the mutation is accepted).
MUTATED: dict[str, Callable[[dict], Any]] = {
    "palm540b.yaml": lambda d: None, "palm540b_failures.yaml": lambda d: None,
    "palm540b_1pod.yaml": lambda d: None, "pathways_deadlock.yaml": lambda d: None,
    "pathways_multiisland.yaml": small_multiisland, "pathways_dispatch.yaml": small_dispatch,
    "pathways_multitenancy.yaml": short_tenancy}


def leaves(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in leaves(v, f"{prefix}{k}.")]
    if isinstance(data, list) and data:
        return [p for i, v in enumerate(data) for p in leaves(v, f"{prefix}{i}.")]
    return [prefix[:-1]]


def mutation_cases(c: Cases, n: int = 80, seed: int = 13) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        base = rng.choice(sorted(MUTATED))
        data = load(base)
        MUTATED[base](data)
        if "topology" in data:
            data["topology"] = str((EXP / data["topology"]).resolve())
        for _ in range(rng.choice((1, 1, 2))):
            set_path(data, rng.choice(leaves(data)), copy.deepcopy(rng.choice(HOSTILE)))
        c.add("mutation", data)
    topo = topology("tpu_v4_palm_2pods.yaml")
    for _ in range(n // 4):
        mutated = copy.deepcopy(topo)
        where = rng.choice(leaves(mutated) + ["overrides.hbm_bytes_per_s"])
        set_path(mutated, where, copy.deepcopy(rng.choice(HOSTILE)))
        data = load("palm540b.yaml")
        data["topology"] = str(c.file("topo.yaml", yaml.safe_dump(mutated)))
        c.add("mutation", data)


CLASSES = (encoding_cases, yaml_cases, override_cases, scenario_cases, plan_cases, link_cases, size_cases,
           pathways_cases, jobs_cases, mutation_cases)


@pytest.mark.slow
def test_fuzz_inputs_never_traceback_never_hang(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a case writes stays here
    cases = Cases(tmp_path)
    for build in CLASSES:
        build(cases)
    counts: dict[str, Counter] = {}
    failures = []
    start = time.perf_counter()
    for cls, argv in cases.items:
        t0 = time.perf_counter()
        outcome = run_case(argv)
        counts.setdefault(cls, Counter())[outcome.kind] += 1
        if outcome.kind not in ("error", "finite"):
            failures.append((cls, outcome.kind, argv[1], outcome.detail, round(time.perf_counter() - t0, 1)))
    wall = time.perf_counter() - start
    print(f"\nfuzz: {len(cases.items)} cases in {wall:.1f} s")
    print(f"{'class':<10}{'cases':>6}{'errors':>8}{'finite':>8}{'tracebacks':>11}{'hangs':>7}{'other':>7}")
    for cls, n in counts.items():
        print(f"{cls:<10}{sum(n.values()):>6}{n['error']:>8}{n['finite']:>8}{n['traceback']:>11}{n['hang']:>7}"
              f"{n['bad']:>7}")
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize("text, field", [
    ("n_layers: 32\n  n_layers: 2", "model.n_layers"),
])
def test_duplicate_key_is_refused_naming_it(tmp_path, text, field, capsys):
    base = (EXP / "palm540b.yaml").read_text().replace("model: palm540b", "model:\n  base: palm540b\n  " + text)
    path = tmp_path / "dup.yaml"
    path.write_text(base.replace("../topologies", str(TOPO)))
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {field}: given twice")


def test_binary_calibration_profile_is_one_line(tmp_path):
    cases = Cases(tmp_path)
    binary = cases.file("profile.json", bytes(range(256)) * 8)
    cases.experiment("encoding", "palm540b.yaml", setter("calibration", {"profile": str(binary)}))
    assert run_case(cases.items[0][1]).kind == "error"


@pytest.mark.parametrize("json_output", [True, False])
def test_no_failures_print_no_infinity(tmp_path, json_output):
    cases = Cases(tmp_path)
    cases.experiment("scenario", "palm540b_failures.yaml", lambda d: d["scenario"]["failures"].update(
        chip_failures_per_hour=0.0, host_failures_per_hour=0.0))
    argv = cases.items[0][1] if json_output else cases.items[0][1][:2]
    assert run_case(argv).kind == "finite"
