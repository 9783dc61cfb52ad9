"""Results on disk: a CSV journal appended row by row as plans finish (so an interrupted sweep keeps
them), read back to resume, and rewritten ranked at the end as CSV or Parquet.

Each row carries the plan's key (a hash of the plan and the experiment's identity) and the experiment's
identity; a file of another experiment's results is refused rather than mixed in.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pathsim.errors import ConfigError
from pathsim.results.outputs import write_atomic, write_text_atomic
from pathsim.studies.whatif.evaluate import PLAN_COLUMNS, RESULT_COLUMNS, STATUSES, Task, evaluate

KEY_COLUMNS = ("rank", "plan_key", "experiment", "experiment_id")


def columns_for(params: Iterable[str]) -> list[str]:
    cols = list(KEY_COLUMNS)
    for c in (*params, *PLAN_COLUMNS, *RESULT_COLUMNS):
        if c not in cols:
            cols.append(c)
    return cols


def journal_path(out: Path) -> Path:
    return out if out.suffix == ".csv" else out.with_name(out.name + ".journal.csv")


def _read_any(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    # low_memory=False: columns mixing numbers and text (a reason, an axis left empty) are typed once,
    # not chunk by chunk with a DtypeWarning.
    return pd.read_csv(path, dtype={"plan_key": str, "experiment_id": str}, low_memory=False)


def _record_end(data: bytes) -> int:
    """Bytes of `data` that are whole CSV records: up to the last newline outside quotes."""
    end = len(data)
    while end > 0:
        nl = data.rfind(b"\n", 0, end)
        if nl < 0:
            return 0
        if data.count(b'"', 0, nl) % 2 == 0:  # an even count of quotes before it: not inside a field
            return nl + 1
        end = nl
    return 0


def repair_journal(path: Path) -> int:
    """Cut a torn last record (a kill or a full disk mid-write) off a CSV journal, so that it can be read
    and appended to again; returns the bytes cut. Every whole record is kept."""
    if path.suffix != ".csv" or not path.is_file():
        return 0
    data = path.read_bytes()
    end = _record_end(data)
    if end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    return len(data) - end


class ResultsLock:
    """One sweep at a time on a results file: an flock on a hidden lock file beside it, refused at once
    (not waited for) when another sweep holds it. The kernel drops it when its process dies."""

    def __init__(self, out: Path) -> None:
        self.out, self.path = out, out.with_name(f".{out.name}.lock")
        self._fd: int | None = None

    def __enter__(self) -> ResultsLock:
        import fcntl

        self.out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError("--out", f"{self.out} is being written by another sweep; wait for it to "
                                  "finish or choose another --out") from None
            # A holder may have removed the file between our open and our lock: lock the file there now.
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    self._fd = fd
                    return self
            except FileNotFoundError:
                pass
            os.close(fd)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # while still held, so no one locks a removed file
            os.close(self._fd)
            self._fd = None


def remove_results(out: Path) -> None:
    """`--restart`: the results file and its journal go; the sweep starts anew."""
    for path in dict.fromkeys((out, journal_path(out))):
        path.unlink(missing_ok=True)


def load_previous(out: Path, experiment_id: str) -> pd.DataFrame:
    """Rows already computed for this experiment (from the final file and the journal), newest last."""
    frames = []
    for path in dict.fromkeys((out, journal_path(out))):
        if not path.exists() or path.stat().st_size == 0:
            continue
        try:
            frame = _read_any(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise ConfigError("--out", f"{path} is not a results table ({type(exc).__name__}); choose another "
                              "--out, or --restart to replace it") from None
        if "experiment_id" not in frame.columns or "plan_key" not in frame.columns:
            raise ConfigError("--out", f"{path} is not a pathsim sweep results file; choose another --out, "
                              "or --restart to replace it")
        others = set(frame["experiment_id"].dropna().astype(str)) - {experiment_id}
        if others:
            name = frame["experiment"].dropna().iloc[0] if "experiment" in frame and frame["experiment"].notna().any() else "?"
            raise ConfigError("--out", f"{path} holds results of a different experiment ({name!r}, id "
                              f"{sorted(others)[0]}; this one is {experiment_id}: was it edited?): "
                              "--restart to start the file anew, or choose another --out")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["plan_key"])
    return pd.concat(frames, ignore_index=True)


def latest_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per plan: a simulated row wins over a screened one, then the newest."""
    if frame.empty:
        return frame
    order = frame.assign(_sim=frame.get("simulated", False).fillna(False).astype(bool), _i=range(len(frame)))
    order = order.sort_values(["_sim", "_i"]).drop_duplicates("plan_key", keep="last")
    return order.drop(columns=["_sim", "_i"])


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV lines under `columns`; formatting is the costly part, so workers do it."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return buf.getvalue()


@dataclass(frozen=True)
class Chunk:
    """Plans screened in one worker call, returned as ready-made CSV lines."""

    tasks: tuple[Task, ...]
    columns: tuple[str, ...]


def evaluate_chunk(chunk: Chunk) -> tuple[str, int]:
    return csv_text((evaluate(t) for t in chunk.tasks), chunk.columns), len(chunk.tasks)


class Journal:
    """Appends CSV lines under one fixed header, flushing after each batch."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size:
            # The header must match the columns written now: rewrite what is there under the new one.
            existing = _read_any(path)
            if list(existing.columns) != columns:
                _atomic_write(existing.reindex(columns=columns), path)
        else:
            write_text_atomic(path, csv_text([dict(zip(columns, columns))], columns), "--out")
        try:
            self._file = path.open("a", newline="")
        except OSError as exc:
            raise ConfigError("--out", f"cannot write {path}: {exc.strerror or exc}") from None

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        self.write_text(csv_text(rows, self.columns))

    def write_text(self, text: str) -> None:
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:  # a full disk: the rows before are kept, a torn one is cut on the rerun
            raise ConfigError("--out", f"cannot write {self.path}: {exc.strerror or exc}; the rows written "
                              "so far are kept") from None

    def close(self) -> None:
        self._file.close()


def _atomic_write(frame: pd.DataFrame, path: Path) -> None:
    """A temporary file of its own (two writers never share one), then os.replace."""
    if path.suffix == ".parquet":
        write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False), "--out")
    else:
        write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False), "--out")


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Plans that fit and ran first, by simulated MFU, then by the screen's MFU; the rest after."""
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype=int))
    usable = (frame["status"] == "ok").astype(int)
    status = frame["status"].map({s: -i for i, s in enumerate(STATUSES)}).fillna(-len(STATUSES))
    mfu = pd.to_numeric(frame["mfu"], errors="coerce")
    screen = pd.to_numeric(frame["screen.mfu"], errors="coerce")
    # The plan key breaks ties, so the order never depends on which worker finished first.
    ordered = frame.assign(_u=usable, _m=mfu.fillna(-1.0), _s=screen.fillna(-1.0), _st=status)
    ordered = ordered.sort_values(["_u", "_m", "_s", "_st", "plan_key"], ascending=[False] * 4 + [True],
                                  kind="stable").drop(columns=["_u", "_m", "_s", "_st"])
    return ordered.assign(rank=range(1, len(ordered) + 1)).reset_index(drop=True)


def ranked_rows(out: Path, columns: list[str]) -> pd.DataFrame:
    """Every row of the file, one per plan, ranked."""
    frame = latest_rows(_read_any(journal_path(out)))
    if out.suffix == ".parquet" and out.exists():
        frame = latest_rows(pd.concat([_read_any(out), frame], ignore_index=True))
    return rank(frame.reindex(columns=columns))


def write_ranked(ranked: pd.DataFrame, out: Path) -> None:
    """`out` rewritten ranked (CSV or Parquet); the journal beside a Parquet file goes once it is in."""
    _atomic_write(ranked, out)
    if journal_path(out) != out:
        journal_path(out).unlink()
