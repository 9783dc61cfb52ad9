"""The `pathsim` command. Bad input ends in one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

from pathsim.errors import ConfigError

# Subcommands contributed by feature packages: module -> it exposes register(subparsers).
_FEATURE_CLIS = ("pathsim.calibration.cli", "pathsim.whatif.cli")


def _has_module(name: str) -> bool:
    """True when a feature package is installed; a missing parent package counts as absent."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _run(args: argparse.Namespace) -> int:
    from pathsim.experiment import read_yaml

    path = Path(args.experiment)
    data = read_yaml(path, "experiment")
    if "sweep" in data:
        raise ConfigError("sweep", f"{path} is a sweep file: run it with `pathsim sweep {path}`")
    if "kind" in data and _has_module("pathsim.pathways"):
        from pathsim.pathways import PATHWAYS_KINDS, run_pathways_experiment, summarize

        if data["kind"] in PATHWAYS_KINDS:
            out = Path(args.out) if args.out else Path(f"{data.get('name', path.stem)}.csv")
            table = run_pathways_experiment(path, out)
            print(summarize(data["kind"], table))
            print(f"results: {out}")
            return 0
    from pathsim.jobs import is_shared_pod, jobs_report, run_shared_pod

    if is_shared_pod(data):
        results = run_shared_pod(path)
        if args.json:
            print(json.dumps([dict(vars(r), slowdown=r.slowdown) for r in results], indent=2))
        else:
            print(jobs_report(data.get("name", path.stem), results), end="")
        return 0
    from pathsim.api import run_experiment
    from pathsim.report import result_dict, text_report

    result = run_experiment(path, mode=args.mode)
    if args.trace:
        from pathsim.trace import write_trace

        write_trace(result.timeline, args.trace)
    if args.json:
        print(json.dumps(result_dict(result), indent=2))
    else:
        print(text_report(result), end="")
        if args.trace:
            print(f"trace: {args.trace} (open it in ui.perfetto.dev)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pathsim", description="Simulate Pathways-style training on TPU pods.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate one training step of an experiment")
    run.add_argument("experiment", help="experiment YAML, e.g. experiments/palm540b.yaml")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    run.add_argument("--trace", metavar="FILE", help="write the timeline as a Chrome/Perfetto trace")
    run.add_argument("--out", metavar="CSV", help="results table (runtime experiments)")
    run.add_argument("--mode", choices=("auto", "folded", "full"),
                     help="folded: one chip per device group; full: every chip and link (default: the "
                          "experiment's scenario.mode, auto)")
    run.set_defaults(handler=_run)
    for module in _FEATURE_CLIS:
        if _has_module(module):
            importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
