"""Study --run--> ranked DataFrame. Plain sweeps simulate every plan that fits; plan searches
(`shortlist`) screen every plan analytically and simulate only the best few that fit.

Rows go to the journal as they finish; plans whose rows are already there are not computed again.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pathsim.errors import ConfigError
from pathsim.studies.whatif.backends import Backend, make_backend
from pathsim.studies.whatif.evaluate import Task, evaluate
from pathsim.studies.whatif.results import (
    Chunk,
    Journal,
    ResultsLock,
    columns_for,
    evaluate_chunk,
    journal_path,
    latest_rows,
    load_previous,
    ranked_rows,
    remove_results,
    repair_journal,
    write_ranked,
)
from pathsim.studies.whatif.spec import Study

SCREEN_CHUNK = 400  # plans per screening task: ~50 ms of work against a task's ~1 ms round trip


@dataclass(frozen=True)
class SweepStats:
    plans: int
    reused: int  # rows found in the results file
    screened: int  # screened only (plan search)
    evaluated: int  # fully evaluated: screened, checked against HBM, simulated where it fits
    simulated: int  # of those, simulated
    wall_s: float
    torn_bytes: int = 0  # a torn last row cut off the results file (an earlier run killed mid-write)


class ResultsWriteError(ConfigError):
    """The sweep ran but its ranked results could not be written; they are here, to be shown anyway."""

    def __init__(self, error: ConfigError, frame: pd.DataFrame, stats: SweepStats) -> None:
        super().__init__(error.field, error.message)
        self.frame, self.stats = frame, stats


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _task(study: Study, key: str, point, simulate: bool) -> Task:
    return Task(key=key, experiment=study.name, experiment_id=study.experiment_id, point=point, base_exp=study.base_exp, base_topo=study.base_topo,
                experiment_path=study.experiment_path, simulate=simulate,
                simulate_infeasible=study.simulate_infeasible)


def _cost_estimate(point) -> int:
    """Bigger programs first, so the pool does not end waiting on one long plan (LPT order)."""
    micro = dict(point).get("plan.microbatches", 1)
    return micro if isinstance(micro, int) else 1


def run_study(study: Study, out: str | Path | None = None, backend: str | Backend = "local",
              workers: int | None = None, address: str | None = None,
              progress: bool = False, restart: bool = False) -> tuple[pd.DataFrame, SweepStats]:
    """Evaluate a study; returns its rows ranked (best usable plan first) and what was done.

    `out` is locked for the run (a second sweep on it is refused); `restart` drops the rows it holds.
    A ranked file that cannot be written raises ResultsWriteError, which carries the results."""
    start = time.perf_counter()
    keys = [study.key(p) for p in study.points]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as held:
        out_path = Path(out) if out is not None else Path(tmp) / "results.csv"
        if out is not None:
            held.enter_context(ResultsLock(out_path))
        if restart:
            remove_results(out_path)
        torn = repair_journal(journal_path(out_path))
        previous = latest_rows(load_previous(out_path, study.experiment_id))  # refuses a foreign file first
        # plan key -> whether its row is final: simulated, failed, invalid, or not to be simulated (out of
        # HBM); a plan search's screened-only row may still need simulating.
        done = {str(k): _final(s, st, study.simulate_infeasible) for k, s, st in zip(
            previous.get("plan_key", []), previous.get("simulated", []), previous.get("status", []))}
        columns = columns_for(study.params)
        engine = make_backend(backend, workers, address) if isinstance(backend, str) else backend
        screened = 0
        stopped = True  # until the work is done: then workers are killed, not waited for
        try:
            if study.shortlist is not None:
                todo = [_task(study, k, p, False) for p, k in zip(study.points, keys) if k not in done]
                chunks = [Chunk(tuple(todo[i:i + SCREEN_CHUNK]), tuple(columns))
                          for i in range(0, len(todo), SCREEN_CHUNK)]
                screened = _run(engine, evaluate_chunk, chunks, out_path, columns, progress, "screening")
                rows = latest_rows(load_previous(out_path, study.experiment_id))
                best = set(_shortlist(rows, set(keys), study.shortlist))
                todo = [_task(study, k, p, True) for p, k in zip(study.points, keys)
                        if k in best and not done.get(k, False)]
            else:
                todo = [_task(study, k, p, True) for p, k in zip(study.points, keys) if not done.get(k, False)]
                todo.sort(key=lambda t: _cost_estimate(t.point), reverse=True)
            evaluated = _run(engine, evaluate, todo, out_path, columns, progress, "simulating")
            stopped = False
        finally:
            if isinstance(backend, str):
                engine.close(now=stopped)
        ranked = ranked_rows(out_path, columns)
        mine = ranked[ranked["plan_key"].isin(set(keys))].reset_index(drop=True)
        simulated = sum(bool(s) and not done.get(k, False) for k, s in zip(mine["plan_key"], mine["simulated"]))
        stats = SweepStats(plans=len(keys), reused=sum(k in done for k in keys), screened=screened,
                           evaluated=evaluated, simulated=simulated, wall_s=time.perf_counter() - start,
                           torn_bytes=torn)
        try:
            write_ranked(ranked, out_path)
        except ConfigError as exc:
            raise ResultsWriteError(exc, mine, stats) from None
    return mine, stats


def _final(simulated: object, status: object, simulate_infeasible: bool) -> bool:
    if simulated is True or simulated == "True" or status in ("invalid", "error"):
        return True
    return status == "out_of_memory" and not simulate_infeasible


def _shortlist(rows: pd.DataFrame, keys: set[str], n: int) -> list[str]:
    """The n plans that fit with the best screened MFU."""
    rows = rows[rows["plan_key"].isin(keys) & (rows["status"] == "ok")]
    rows = rows.assign(_s=pd.to_numeric(rows["screen.mfu"], errors="coerce"))
    return list(rows.sort_values("_s", ascending=False, kind="stable")["plan_key"].head(n))


def _run(engine: Backend, fn, items: list, out: Path, columns: list[str], progress: bool, label: str) -> int:
    """Map `fn` over `items`, journaling each result as it arrives: a row, or a chunk's CSV lines."""
    total = sum(len(c.tasks) if isinstance(c, Chunk) else 1 for c in items)
    journal = Journal(journal_path(out), columns)
    count = 0
    try:
        with _progress(progress, total, label) as advance:
            for result in engine.map_unordered(fn, items):
                if isinstance(result, tuple):
                    text, n = result
                    journal.write_text(text)
                else:
                    journal.write([result])
                    n = 1
                count += n
                advance(n)
    finally:
        journal.close()
    return count
