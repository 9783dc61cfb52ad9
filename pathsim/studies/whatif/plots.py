"""Plots of sweep results with matplotlib: a figure against a swept parameter, stacked step-time
breakdowns, and memory per chip against HBM. Each function draws on an Axes and returns it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pathsim.catalog.hardware import GIB
from pathsim.errors import ConfigError
from pathsim.results.outputs import write_atomic
from pathsim.studies.whatif.params import ALIASES, mesh_axis_of

AGGREGATES = ("max", "min", "mean")
_LABELS = {"mfu": "MFU", "hfu": "HFU", "step_time_s": "step time (s)", "tokens_per_s": "tokens/s",
           "training.global_batch_seqs": "global batch (sequences)", "memory.total_bytes": "memory per chip (bytes)"}
_UNITS = (("_bytes_per_s", "B/s"), ("_flops_per_s", "FLOP/s"), ("_bytes", "bytes"), ("_s", "s"))


def label(column: str) -> str:
    """A readable axis label: "plan.ici.tensor" -> "ici tensor degree", "..._bytes_per_s" -> "... (B/s)"."""
    if column in _LABELS:
        return _LABELS[column]
    if mesh_axis_of(column) is not None:
        return f"{column.removeprefix('plan.').replace('.', ' ')} degree"
    name = column.rsplit(".", 1)[-1]
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return f"{name.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


def _log_base(values: pd.Series) -> int:
    """2 for doubling values (batch sizes, degrees, chip counts), else 10."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    doubling = len(v) > 0 and (v > 0).all() and all(float(x).is_integer() and int(x) & (int(x) - 1) == 0 for x in v)
    return 2 if doubling else 10


def _log_scale(ax: Any, which: str, values: pd.Series, field: str) -> None:
    """A log axis, base 2 for doubling values, ticks as plain numbers (64, not 2^6)."""
    from matplotlib.ticker import ScalarFormatter

    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty or (v <= 0).any():
        raise ConfigError(field, "a log axis needs positive values")
    getattr(ax, f"set_{which}scale")("log", base=_log_base(v))
    getattr(ax, f"{which}axis").set_major_formatter(ScalarFormatter())


def read_results(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("RESULTS", f"file {str(path)!r} does not exist")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, low_memory=False)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is one user error
        raise ConfigError("RESULTS", f"{path} is not a results table ({type(exc).__name__})") from None
    if "plan_key" not in frame.columns:
        raise ConfigError("RESULTS", f"{path} is not a pathsim sweep results file")
    if frame.empty:
        raise ConfigError("RESULTS", f"{path} holds no plans: nothing to plot")
    return frame


def _column(frame: pd.DataFrame, name: str | None, field: str) -> None:
    if name is not None and name not in frame.columns:
        raise ConfigError(field, f"no column {name!r}; the results have: {', '.join(map(str, frame.columns))}")


def resolve_column(frame: pd.DataFrame, name: str, field: str) -> str:
    """The results column of `name`, which may be a sweep alias (training.batch, plan.model)."""
    column = name if name in frame.columns else ALIASES.get(name, name)
    _column(frame, column, field)
    return column


def _axes(ax: Any, size: tuple[float, float] = (7, 4.2)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # the caller's backend: inline in notebooks, Agg in the CLI

    return plt.figure(figsize=size).add_subplot()


def _bar_labels(rows: pd.DataFrame, label: str) -> list[str]:
    """Unique bar names: plans can share a label (the same plan at two batch sizes)."""
    ranks = rows["rank"] if "rank" in rows else pd.Series(range(1, len(rows) + 1), index=rows.index)
    return [f"{r}. {v}" for r, v in zip(ranks, rows[label].astype(str))]


def _stacked_bars(ax: Any, rows: pd.DataFrame, label: str, parts: list[str], scale: float, prefix: str,
                  suffix: str) -> None:
    names = _bar_labels(rows, label)
    left = pd.Series(0.0, index=rows.index)
    for part in parts:
        values = pd.to_numeric(rows[part], errors="coerce").fillna(0.0) * scale
        ax.barh(names, values, left=left, label=part.removeprefix(prefix).removesuffix(suffix).replace("_", " "))
        left += values
    ax.invert_yaxis()


def plot_metric(frame: pd.DataFrame, x: str, y: str = "mfu", hue: str | None = None, agg: str = "max",
                ax: Any = None, logx: bool = False, logy: bool = False, title: str | None = None) -> Any:
    """`y` against `x` over the plans that fit and ran, `agg` of y where several share an x (e.g. the best
    MFU at each model-parallel degree). Plans that do not fit are marked x at the screen's estimate; x values
    where a plan is invalid (it cannot be built) are marked on the x axis. Columns may be named by their
    sweep aliases (training.batch)."""
    x, y = resolve_column(frame, x, "--x"), resolve_column(frame, y, "--y")
    hue = resolve_column(frame, hue, "--hue") if hue is not None else None
    if agg not in AGGREGATES:
        raise ConfigError("--agg", f"unknown {agg!r}; choose one of {', '.join(AGGREGATES)}")
    ok = frame[frame["status"] == "ok"].assign(_y=lambda f: pd.to_numeric(f[y], errors="coerce")).dropna(subset=["_y"])
    screen = f"screen.{y}"
    oom = frame[frame["status"] == "out_of_memory"]
    oom = oom.assign(_y=pd.to_numeric(oom[screen], errors="coerce") if screen in oom else float("nan"))
    oom = oom.dropna(subset=["_y"])
    if ok.empty and oom.empty:  # an empty figure would look like a plot of nothing
        statuses = ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())
        raise ConfigError("--y", f"no plan has a value of {y!r} to plot ({statuses})")
    ax = _axes(ax)
    groups = ok.groupby(hue, sort=True) if hue else [(None, ok)]
    for name, group in groups:
        series = group.groupby(x, sort=True)["_y"].agg(agg)
        legend = f"{label(hue)} = {name[0] if isinstance(name, tuple) else name}" if hue else None
        ax.plot(series.index, series.values, marker="o", label=legend)
    if len(oom):
        best = oom.groupby(x, sort=True)["_y"].agg(agg)
        ax.scatter(best.index, best.values, marker="x", color="grey", label="does not fit in HBM (screen)")
    invalid = pd.to_numeric(frame.loc[frame["status"] == "invalid", x], errors="coerce").dropna().unique()
    if len(invalid):  # no y to place them at: on the x axis, in axes coordinates
        ax.scatter(invalid, [0.0] * len(invalid), marker="^", color="red", clip_on=False, zorder=3,
                   transform=ax.get_xaxis_transform(), label="invalid plan (cannot be built)")
    if logx:
        _log_scale(ax, "x", pd.concat([ok[x], oom[x], pd.Series(invalid)]), "--logx")
    if logy:
        _log_scale(ax, "y", pd.concat([ok["_y"], oom["_y"]]), "--logy")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    if y in ("mfu", "hfu") and not logy:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0))  # as many decimals as the ticks need
    ax.set_title(title if title is not None else default_title(x, y, hue))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # outside the data, right of the axes
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def default_title(x: str, y: str, hue: str | None = None) -> str:
    by = f", by {label(hue)}" if hue else ""
    return f"{label(y)} against {label(x)}{by}"


def plot_breakdown(frame: pd.DataFrame, label: str = "plan", top: int | None = 10, ax: Any = None) -> Any:
    """Stacked bars of where each plan's step goes (compute, exposed ICI and DCN, bubble, dispatch)."""
    label = resolve_column(frame, label, "--x")
    parts = [c for c in frame.columns if str(c).startswith("breakdown.")]
    rows = frame[frame["simulated"].fillna(False).astype(bool)] if "simulated" in frame else frame
    rows = rows.head(top) if top else rows
    if rows.empty:
        raise ConfigError("RESULTS", "no simulated plan to show a breakdown of")
    ax = _axes(ax, (12, 1.5 + 0.45 * len(rows)))
    _stacked_bars(ax, rows, label, parts, 1.0, "breakdown.", "_s")
    ax.set_xlabel("seconds per step")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_memory(frame: pd.DataFrame, x: str = "plan", top: int | None = 10, ax: Any = None) -> Any:
    """Stacked memory per chip by category against the chip's HBM."""
    x = resolve_column(frame, x, "--x")
    parts = ["memory.weights_bytes", "memory.gradients_bytes", "memory.optimizer_bytes",
             "memory.activations_bytes", "memory.working_bytes"]
    rows = frame.dropna(subset=["memory.total_bytes"])
    rows = rows.head(top) if top else rows
    if rows.empty:
        raise ConfigError("RESULTS", "no plan with a memory figure")
    ax = _axes(ax, (12, 1.5 + 0.45 * len(rows)))
    _stacked_bars(ax, rows, x, parts, 1.0 / GIB, "memory.", "_bytes")
    hbm = pd.to_numeric(rows["memory.hbm_bytes"], errors="coerce").max() / GIB
    ax.axvline(hbm, color="black", linestyle="--", label=f"HBM {hbm:.0f} GiB")
    ax.set_xlabel("GiB per chip")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def save(ax: Any, path: str | Path, field: str = "--out") -> Path:
    """PNG, SVG or PDF by the file's suffix, written atomically (no empty image after a failed write);
    errors name `field`, the flag that gave the path."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(field, f"{path.name}: choose a .png, .svg or .pdf file")
    fig = ax.get_figure()
    fig.tight_layout()
    import matplotlib.pyplot as plt

    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format=path.suffix.lower()[1:]), field)
    finally:
        plt.close(fig)
    return path
