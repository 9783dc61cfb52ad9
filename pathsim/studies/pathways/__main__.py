"""`python -m pathsim.studies.pathways FILE.yaml [--out results.csv]`: what `pathsim run` does for Pathways kinds.
Exit status: 0 done, 2 bad input, 3 a deadlock was detected (pathways_deadlock)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pathsim.config.experiment import read_yaml
from pathsim.errors import ConfigError
from pathsim.studies.pathways import EXIT_DEADLOCK, deadlock_detected, run_pathways_experiment, summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.studies.pathways")
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="CSV path (default: <name>.csv here)")
    args = parser.parse_args(argv)
    try:
        data = read_yaml(args.experiment, "experiment")
        out = args.out or Path(f"{data.get('name', args.experiment.stem)}.csv")
        df = run_pathways_experiment(args.experiment, out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summarize(data["kind"], df))
    print(f"wrote {out}")
    return EXIT_DEADLOCK if deadlock_detected(data["kind"], df) else 0


if __name__ == "__main__":
    sys.exit(main())
