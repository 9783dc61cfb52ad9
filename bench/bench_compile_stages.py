"""Where a cold XLA compile spends its time, and which flags cut it without changing the program.

    .venv/bin/python bench/bench_compile_stages.py [EXPERIMENT] [--layers N] [--try FLAGS ...]

Compiles the experiment's step (its own `xla_flags`, `--layers` overriding n_layers) in a fresh process with
libtpu's logging on, and prints libtpu's own stage durations (HLO passes, backend passes, code generation,
end to end), the slowest HLO passes, and a fingerprint of the scheduled HLO that pathsim imports. Each
`--try` compiles again with extra flags: the same fingerprint means the same imported program, so the flag
only changed what happens after it (the backend's code generation).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "bench" / "palm8b_2layers_16chips.yaml"
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_PASS = re.compile(r"HLO pass: (\S+) time: ([\d.]+) (ns|us|ms|s) ")
_STAGE = re.compile(r"\] (\w+) stage duration: ((?:[\d.]+(?:h|ms|us|ns|m|s))+)")
_ABSL_PART = re.compile(r"([\d.]+)(h|ms|us|ns|m|s)")  # absl durations: 752.3ms, 2m57.1s, 1h2m
_PART_S = {"h": 3600.0, "m": 60.0, **_UNIT_S}

_CHILD = """
import hashlib, json, re, sys, time
from pathsim.config.experiment import load_experiment
from pathsim.workload.xla.mesh import build_mesh, mesh_plan
from pathsim.workload.xla.step import build_step
exp, topo = load_experiment(sys.argv[1])
layers = int(sys.argv[2])
model = exp.model.model_copy(update={"n_layers": layers}) if layers else exp.model
mp = mesh_plan(exp.plan, topo)
start = time.monotonic()
spec = build_step(model, exp.training, mp, build_mesh(mp))
lowered = spec.jit().lower(*spec.args)
traced = time.monotonic()
compiled = lowered.compile()
done = time.monotonic()
text = re.sub(r"HloModule \\S+", "", compiled.as_text())
ops = re.sub(r'"estimated_cycles":"?\\d+"?', "", text)  # the program without the compiler's per-kernel estimates
m = compiled.memory_analysis()
print("RESULT " + json.dumps({"trace_s": traced - start, "compile_s": done - traced,
      "fingerprint": hashlib.sha256(text.encode()).hexdigest()[:16],
      "ops_fingerprint": hashlib.sha256(ops.encode()).hexdigest()[:16], "temp_bytes": m.temp_size_in_bytes}))
"""


def compile_once(experiment: str, layers: int, flags: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "libtpu.log"  # libtpu logs to stderr
        env = {**os.environ, "LIBTPU_INIT_ARGS": " ".join(flags), "TPU_STDERR_LOG_LEVEL": "0",
               "TPU_MIN_LOG_LEVEL": "0", "TPU_VMODULE": "hlo_pass_pipeline=1", "TPU_SKIP_MDS_QUERY": "1",
               "ALLOW_MULTIPLE_LIBTPU_LOAD": "1"}
        start = time.monotonic()
        with log.open("w") as sink:
            out = subprocess.run([sys.executable, "-c", _CHILD, experiment, str(layers)], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=sink, text=True)
        wall = time.monotonic() - start
        text = log.read_text(errors="replace")
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        tail = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["no output"]
        return {"flags": flags, "error": tail[0][:300], "wall_s": wall}
    passes: collections.Counter = collections.Counter()
    for m in _PASS.finditer(text):
        passes[m.group(1)] += float(m.group(2)) * _UNIT_S[m.group(3)]
    stages = {m.group(1): sum(float(v) * _PART_S[u] for v, u in _ABSL_PART.findall(m.group(2)))
              for m in _STAGE.finditer(text)}
    return {"flags": flags, "wall_s": wall, **json.loads(line[len("RESULT "):]), "stages_s": stages,
            "top_passes_s": passes.most_common(8), "hlo_passes_sum_s": sum(passes.values())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment", nargs="?", default=str(DEFAULT))
    parser.add_argument("--layers", type=int, default=0, help="override n_layers (0: the experiment's)")
    parser.add_argument("--try", dest="tries", action="append", default=[], metavar="FLAGS",
                        help="extra flags to compile with, e.g. --try='--xla_jf_vliw_scheduler=false'")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pathsim.catalog.xla_flags import resolve_flags
    from pathsim.config.experiment import load_experiment

    exp, topo = load_experiment(args.experiment)
    base = list(resolve_flags(exp.xla_flags, topo.chip).flags)
    print(f"experiment {args.experiment} ({exp.model.n_layers if not args.layers else args.layers} layers, "
          f"{topo.chip}), flags {' '.join(base) or '(libtpu defaults)'}")
    reference = None
    for extra in [[]] + [t.split() for t in args.tries]:
        r = compile_once(args.experiment, args.layers, base + extra)
        label = " ".join(extra) or "(as the experiment)"
        if "error" in r:
            print(f"{label}: failed after {r['wall_s']:.1f} s: {r['error']}")
            continue
        reference = reference or (r["fingerprint"], r["ops_fingerprint"])
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["stages_s"].items())
        same = ("same program" if r["fingerprint"] == reference[0] else
                "same ops, other estimated_cycles" if r["ops_fingerprint"] == reference[1] else "PROGRAM CHANGED")
        print(f"{label}: wall {r['wall_s']:.1f} s, trace+lower {r['trace_s']:.1f} s, compile {r['compile_s']:.1f} s "
              f"[{stages}]; HLO {r['fingerprint']} ({same}), temp {r['temp_bytes'] / 2**30:.2f} GiB")
        top = ", ".join(f"{name} {s:.1f} s" for name, s in r["top_passes_s"][:5])
        print(f"    HLO passes: {r['hlo_passes_sum_s']:.1f} s in all; slowest: {top}")


if __name__ == "__main__":
    main()
