"""Pathways experiments: configs, sweep drivers and summaries (no simpy here; the actors live in
pathsim.engine.pathways).

`run_pathways_experiment(path, out_csv)` runs one experiments/pathways_*.yaml whose `kind` is in
PATHWAYS_KINDS and returns its results as a DataFrame (also written as CSV when `out_csv` is given).
`deadlock_detected(kind, table)` says whether a run ended in a deadlock: the command exits with
EXIT_DEADLOCK (3) then, so that a script can tell it from a success (0) and from bad input (2).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pathsim.config.experiment import read_yaml
from pathsim.errors import ConfigError
from pathsim.studies.pathways import deadlock, dispatch, multiisland, multitenancy
from pathsim.studies.pathways.config import PATHWAYS_KINDS, parse

EXIT_DEADLOCK = 3

_DRIVERS = {"pathways_dispatch": dispatch, "pathways_multitenancy": multitenancy,
            "pathways_multiisland": multiisland, "pathways_deadlock": deadlock}


def run_pathways_experiment(path: Path, out_csv: Path | None = None) -> pd.DataFrame:
    cfg = parse(read_yaml(Path(path), "experiment"))
    df = _DRIVERS[cfg.kind].run(cfg)
    if out_csv is not None:
        df.to_csv(out_csv, index=False)
    return df


def summarize(kind: str, df: pd.DataFrame) -> str:
    if kind not in _DRIVERS:
        raise ConfigError("kind", f"{kind!r} is not a Pathways experiment; known: {', '.join(sorted(_DRIVERS))}")
    return _DRIVERS[kind].summarize(df)


def deadlock_detected(kind: str, df: pd.DataFrame) -> bool:
    """True when a pathways_deadlock run found a deadlock (some scheduler's programs never completed)."""
    return kind == "pathways_deadlock" and bool(df["deadlocked"].any())


__all__ = ["EXIT_DEADLOCK", "PATHWAYS_KINDS", "deadlock_detected", "run_pathways_experiment", "summarize"]
