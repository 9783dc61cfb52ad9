"""`pathsim sweep`, `pathsim compare` and `pathsim plot`. Registered by pathsim.cli; heavy imports
(ray, matplotlib) wait until a handler needs them."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pathsim.catalog.hardware import GIB
from pathsim.cli import EXIT_INTERRUPTED, RESULTS_DIR, owns_compile_line, show_progress, spinner
from pathsim.errors import ConfigError
from pathsim.processes import Terminated

if TYPE_CHECKING:  # pandas loads only when a what-if command runs: `pathsim run` stays quick
    import pandas as pd


def _at_least_one(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise ConfigError(flag, f"must be at least 1, got {value}")


def register(sub: argparse._SubParsersAction) -> None:
    from pathsim.cli import add_program_option

    sweep = sub.add_parser("sweep", help="evaluate many plans of an experiment; results ranked by MFU")
    sweep.add_argument("experiment", help="an experiment YAML, optionally with a `sweep:` section")
    sweep.add_argument("--set", action="append", default=[], metavar="PATH=V1,V2",
                       help="sweep a setting, e.g. plan.ici.tensor=4,8,12,16 (alias plan.model)")
    sweep.add_argument("--infer", action="append", default=[], metavar="AXIS",
                       help="a mesh axis that takes the chips the others leave, e.g. plan.ici.fsdp")
    sweep.add_argument("--all-plans", action="store_true",
                       help="every factorization of the chips into mesh axes x micro-batches x remat")
    sweep.add_argument("--shortlist", type=int, metavar="N",
                       help="screen every plan analytically, simulate only the best N (at least 1) that fit")
    sweep.add_argument("--simulate-infeasible", action="store_true", help="also simulate plans that exceed HBM")
    sweep.add_argument("--out", metavar="FILE", help="results .csv or .parquet (default results/NAME_sweep.csv); "
                       "a rerun computes only the plans missing from it")
    sweep.add_argument("--restart", action="store_true",
                       help="start the results file anew (after editing the experiment, its old rows are refused)")
    sweep.add_argument("--backend", default="local", choices=("local", "ray"),
                       help="local: a process pool on this machine (default); ray: Ray remote tasks")
    sweep.add_argument("--address", help="Ray cluster address (ray backend; default: a local Ray instance)")
    sweep.add_argument("--workers", type=int, metavar="N",
                       help="processes (local) or CPUs (local Ray), at least 1; default: one per core")
    sweep.add_argument("--top", type=int, default=10, metavar="N", help="rows of the printed table (default 10)")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    sweep.add_argument("--verify", choices=("xla",), metavar="PROGRAM",
                       help="compile the best plans (xla: the step XLA compiles), simulate them as compiled and "
                            "print both rankings; the table goes to NAME_sweep_verified.csv beside --out")
    sweep.add_argument("--verify-top", type=int, default=4, metavar="K",
                       help="how many of the best plans --verify compiles (default 4)")
    sweep.add_argument("--verify-workers", type=int, metavar="N",
                       help="compiles at once (default: as many as the cores and free memory hold, "
                            "5.5 GiB per PaLM-sized compile)")
    sweep.set_defaults(handler=_sweep)

    compare = sub.add_parser("compare", help="simulate experiments and print them side by side")
    compare.add_argument("experiments", nargs="+", help="two or more experiment YAML files")
    add_program_option(compare)
    compare.set_defaults(handler=_compare)

    plot = sub.add_parser("plot", help="plot sweep results (PNG, SVG or PDF)")
    plot.add_argument("results", help="a results .csv or .parquet written by `pathsim sweep`")
    plot.add_argument("--kind", default="metric", choices=("metric", "breakdown", "memory"),
                      help="metric: --y against --x (default); breakdown: where each plan's step goes; "
                           "memory: memory per chip against HBM")
    plot.add_argument("--x", default=None, help="column for the x axis, e.g. plan.ici.tensor (or a sweep alias: "
                      "plan.model, training.batch)")
    plot.add_argument("--y", default="mfu", help="column for the y axis (metric plots), e.g. mfu, step_time_s")
    plot.add_argument("--hue", help="one line per value of this column")
    plot.add_argument("--logx", action="store_true", help="log x axis (base 2 when the values double)")
    plot.add_argument("--logy", action="store_true", help="log y axis (base 2 when the values double)")
    plot.add_argument("--title", help="the plot's title (default: what is plotted against what)")
    plot.add_argument("--agg", default="max", help="where plans share an x: max, min or mean")
    plot.add_argument("--top", type=int, default=10, metavar="N", help="bars of breakdown and memory plots")
    plot.add_argument("--out", help="image file .png, .svg or .pdf (default: beside RESULTS)")
    plot.set_defaults(handler=_plot)


def shown_params(params: Sequence[str]) -> list[str]:
    """The swept settings that get a column of their own: every one but the mesh axes, which the plan
    column shows already (a sweep over a topology override used to print identical plan rows)."""
    from pathsim.studies.whatif.params import mesh_axis_of

    return [p for p in params if mesh_axis_of(p) is None and p not in ("plan.ici", "plan.dcn")]


def _value(value) -> str:
    import pandas as pd

    if isinstance(value, float) and not pd.isna(value):
        return f"{value:.4g}"
    return "-" if pd.isna(value) else str(value)


def summary_table(frame: "pd.DataFrame", top: int, params: Sequence[str] = ()) -> str:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, width=150, force_terminal=False, force_jupyter=False,
                      color_system=None)
    table = Table(title=f"Best {min(top, len(frame))} of {len(frame)} plans")
    swept = [p for p in shown_params(params) if p in frame.columns]
    table.add_column("rank", justify="right")
    for path in swept:  # the full path is the CSV's column name; its last part is enough on screen
        table.add_column(path.rsplit(".", 1)[-1], justify="right")
    for col in ("plan", "status", "step (s)", "MFU", "HFU", "screen MFU", "GiB/chip", "why not"):
        table.add_column(col, justify="left" if col in ("plan", "status", "why not") else "right",
                         max_width=48 if col == "why not" else None)
    def num(value, fmt: str, scale: float = 1.0) -> str:
        return "-" if pd.isna(value) else fmt.format(value * scale)

    for _, r in frame.head(top).iterrows():
        table.add_row(str(r["rank"]), *(_value(r[p]) for p in swept),
                      str(r["plan"]) if pd.notna(r["plan"]) else "-", str(r["status"]),
                      num(r["step_time_s"], "{:.3f}"), num(r["mfu"], "{:.1f}%", 100), num(r["hfu"], "{:.1f}%", 100),
                      num(r["screen.mfu"], "{:.1f}%", 100), num(r["memory.total_bytes"], "{:.1f}", 1 / GIB),
                      "" if pd.isna(r["reason"]) else str(r["reason"]))
    console.print(table)
    return out.getvalue()


def screen_gap(frame: "pd.DataFrame") -> str | None:
    import pandas as pd

    """How far the analytic screen's step times are from the simulation's, on the simulated plans."""
    sim = frame[frame["simulated"].fillna(False).astype(bool)]
    if sim.empty:
        return None
    gap = pd.to_numeric(sim["screen.step_time_s"]) / pd.to_numeric(sim["step_time_s"]) - 1.0
    return (f"screen vs simulation step time on {len(sim)} simulated plans: mean {100 * gap.mean():+.1f}%, "
            f"worst {100 * gap.abs().max():.1f}%")


def _all_invalid(frame: "pd.DataFrame", inferred: bool) -> str | None:
    """Why no plan of the sweep could be evaluated, with a way on; None when some could."""
    if frame.empty or not (frame["status"] == "invalid").all():
        return None
    reasons = frame["reason"].fillna("").astype(str)
    reason, count = reasons.value_counts().index[0], reasons.value_counts().iloc[0]
    hint = "" if inferred else ("; if the mesh axes no longer multiply to the chips, let one axis take the "
                                "rest: --infer plan.ici.fsdp")
    return f"every plan is invalid ({len(frame)} plans); the commonest reason ({count} of them): {reason}{hint}"


def _sweep(args: argparse.Namespace) -> int:
    from pathsim.results.outputs import check_output
    from pathsim.studies.whatif.params import INFER
    from pathsim.studies.whatif.results import journal_path
    from pathsim.studies.whatif.runner import ResultsWriteError, run_study
    from pathsim.studies.whatif.spec import load_study

    _at_least_one(args.workers, "--workers")
    _at_least_one(args.top, "--top")
    _at_least_one(args.verify_top, "--verify-top")
    _at_least_one(args.verify_workers, "--verify-workers")
    study = load_study(args.experiment, sets=args.set, infer=args.infer, all_plans_=args.all_plans,
                       shortlist=args.shortlist, simulate_infeasible=args.simulate_infeasible or None)
    out = check_output(args.out if args.out is not None else RESULTS_DIR / f"{study.name}_sweep.csv", "--out",
                       (".csv", ".parquet"))
    write_error = None
    try:
        frame, stats = run_study(study, out, backend=args.backend, workers=args.workers, address=args.address,
                                 progress=not args.no_progress and show_progress(args), restart=args.restart)
    except ResultsWriteError as exc:  # the table is still shown; the rows stay in the journal
        frame, stats, write_error = exc.frame, exc.stats, exc
    except KeyboardInterrupt as stop:
        word = f"terminated ({stop})" if isinstance(stop, Terminated) else "interrupted"
        print(f"{word}: the plans that finished are kept in {journal_path(out)}; the same command "
              "goes on from there", file=sys.stderr)
        return stop.exit_code if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    if stats.torn_bytes:
        print(f"note: cut a torn last row ({stats.torn_bytes} bytes, an interrupted write) off "
              f"{journal_path(out)}", file=sys.stderr)
    print(summary_table(frame, args.top, study.params), end="")
    counts = frame["status"].value_counts()
    print(", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "out_of_memory", "invalid", "error")) + " | "
          f"{stats.plans} plans: {stats.reused} from the results file, {stats.screened} screened, "
          f"{stats.evaluated} evaluated ({stats.simulated} simulated) in {stats.wall_s:.1f} s ({args.backend})")
    gap = screen_gap(frame)
    if gap:
        print(gap)
    if write_error is not None:
        raise write_error
    print(f"results: {out}")
    invalid = _all_invalid(frame, inferred=any(v == INFER for p in study.points for _, v in p))
    if invalid:
        raise ConfigError("sweep", invalid)
    if args.verify:
        return _verify(args, study, frame, out)
    return 0


def _verify(args: argparse.Namespace, study, frame: "pd.DataFrame", out: Path) -> int:
    from pathsim.studies.whatif.verify import compile_workers, verifiable, verified_path, verify_top

    plans = len(verifiable(frame))
    if plans == 0:
        raise ConfigError("--verify", "no plan of the sweep fits and was simulated: nothing to compile")
    k = min(args.verify_top, plans)
    workers = compile_workers(k, args.verify_workers)
    try:
        with spinner(f"compiling the best {k} plans ({args.verify}), {workers} at once",
                     show_progress(args)):
            verified = verify_top(study, frame, k, program=args.verify, workers=workers)
    except KeyboardInterrupt as stop:
        print(f"interrupted: the sweep's results are in {out}; finished compiles are cached, so the same "
              "command goes on from there", file=sys.stderr)
        return stop.exit_code if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    print(verified_table(verified.table), end="")
    rho = verified.spearman_mfu
    print(f"verified {len(verified.table)} plans ({args.verify}) in {verified.wall_s:.1f} s, {verified.workers} "
          f"at once" + (f"; rank agreement of the MFUs (Spearman) {rho:.2f}" if rho is not None else ""))
    path = verified_path(out)
    verified.table.to_csv(path, index=False)
    print(f"verified: {path}")
    return 0


def verified_table(table: "pd.DataFrame") -> str:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, width=170, force_terminal=False, force_jupyter=False, color_system=None)
    view = Table(title="The best plans by the lowered program, compiled (compiled: rank, step, exposed ICI, "
                       "memory per chip of the compiled program)")
    for col in ("rank", "compiled", "plan", "MFU", "compiled MFU", "step (s)", "compiled", "exposed ICI",
                "XLA GiB", "status"):
        view.add_column(col, justify="left" if col in ("plan", "status") else "right", no_wrap=col == "plan")

    def num(value, fmt: str, scale: float = 1.0) -> str:
        value = pd.to_numeric(value, errors="coerce")
        return "-" if pd.isna(value) else fmt.format(value * scale)

    reasons = []  # one line each under the table: a compiler's message does not fit a column
    for _, r in table.iterrows():
        status = str(r["compiled.status"])
        if not pd.isna(r["compiled.reason"]):
            reasons.append(f"  rank {r['lowered.rank']}: {r['compiled.reason']}")
            status += f" ({len(reasons)})"
        view.add_row(str(r["lowered.rank"]), num(r["compiled.rank"], "{:.0f}"), str(r["plan"]),
                     num(r["lowered.mfu"], "{:.1f}%", 100), num(r["compiled.mfu"], "{:.1f}%", 100),
                     num(r["lowered.step_time_s"], "{:.3f}"), num(r["compiled.step_time_s"], "{:.3f}"),
                     num(r["compiled.breakdown.exposed_ici_s"], "{:.3f}"),
                     num(r["compiled.memory.compiled_bytes"], "{:.1f}", 1 / GIB), status)
    console.print(view)
    for n, line in enumerate(reasons, 1):
        console.print(f"({n}){line}", overflow="fold", highlight=False, markup=False)
    return out.getvalue()


def _compare(args: argparse.Namespace) -> int:
    from pathsim.studies.whatif.compare import compare_paths, render

    with spinner(f"simulating {len(args.experiments)} experiments", show_progress(args)) as status, \
            owns_compile_line(status):
        table, diffs, labels = compare_paths(args.experiments, program=args.program)
    print(render(table, diffs, labels), end="")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from pathsim.results.outputs import check_output

    _at_least_one(args.top, "--top")
    default = {"metric": f"{args.y}_vs_{args.x}", "breakdown": "breakdown", "memory": "memory"}[args.kind]
    results = Path(args.results)
    out = check_output(args.out if args.out is not None else results.with_name(f"{results.stem}_{default}.png"),
                       "--out", (".png", ".svg", ".pdf"))
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    from pathsim.studies.whatif import plots

    frame = plots.read_results(args.results)
    if args.kind == "metric":
        if args.x is None:
            raise ConfigError("--x", "a metric plot needs --x COLUMN, e.g. --x plan.ici.tensor")
        ax = plots.plot_metric(frame, args.x, args.y, hue=args.hue, agg=args.agg, logx=args.logx, logy=args.logy,
                               title=args.title)
    else:
        if args.logx or args.logy:
            raise ConfigError("--logx" if args.logx else "--logy", "applies to metric plots only")
        draw = plots.plot_breakdown if args.kind == "breakdown" else plots.plot_memory
        ax = draw(frame, args.x or "plan", top=args.top)
        ax.set_title(args.title or {"breakdown": "Where each plan's step goes", "memory": "Memory per chip"}[args.kind])
    print(f"plot: {plots.save(ax, out)}")
    return 0
