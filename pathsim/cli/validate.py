"""`pathsim validate`: pathsim's predictions beside published training runs (the shipped table of 24 MaxText
runs on TPU v5e and PaLM 540B, or a user's CSV of the same columns). Registered by pathsim.cli."""

from __future__ import annotations

import argparse
import json
import sys

from pathsim.cli import EXIT_BAD_INPUT, EXIT_OK, PROGRAMS, show_progress


def register(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser("validate", help="predicted vs published step time and MFU of published runs")
    validate.add_argument("--runs", metavar="CSV", help="a CSV of published runs (default: the shipped table, "
                          "pathsim/data/published_runs/published_runs.csv; its README lists the columns)")
    validate.add_argument("--program", choices=PROGRAMS, default="lowered",
                          help="which program is simulated: lowered (pathsim's own lowering, the default) or xla "
                               "(the step XLA compiles for the TPU; minutes per large model)")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    validate.add_argument("--csv", metavar="FILE", help="also write the rows as a CSV file")
    validate.add_argument("--plot", metavar="FILE", help="also plot predicted vs published (.png, .svg or .pdf)")
    validate.add_argument("--workers", type=int, metavar="N", help="processes, at least 1 (default: one per core)")
    validate.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from pathsim.results.outputs import check_output, write_atomic
    from pathsim.studies.published import DEFAULT_RUNS, read_runs, run_rows, summarize
    from pathsim.studies.published.report import plot, result_json, rows_frame, text_report
    from pathsim.studies.published.runs import PublishedRun
    from pathsim.studies.whatif.runner import _progress as progress_bar

    # Outputs are checked before anything runs, so a long validation never ends in a failed write.
    csv_out = check_output(args.csv, "--csv", (".csv",)) if args.csv is not None else None
    plot_out = check_output(args.plot, "--plot", (".png", ".svg", ".pdf")) if args.plot is not None else None
    if args.workers is not None and args.workers < 1:
        from pathsim.errors import ConfigError

        raise ConfigError("--workers", f"must be at least 1, got {args.workers}")
    path = args.runs if args.runs is not None else DEFAULT_RUNS
    rows = read_runs(path)
    label = str(path) if args.runs is not None else "shipped table"
    with progress_bar(show_progress(args) and not args.no_progress, len(rows), "simulating runs") as advance:
        results = run_rows(rows, args.program, args.workers, on_done=advance)
    summary = summarize([r for r in rows if isinstance(r, PublishedRun)], results)
    if args.json:
        print(json.dumps(result_json(results, summary, args.program, label), indent=2))
    else:
        print(text_report(results, summary, args.program, label), end="")
    sys.stdout.flush()
    if csv_out is not None:
        write_atomic(csv_out, lambda tmp: rows_frame(results).to_csv(tmp, index=False), "--csv")
        if not args.json:
            print(f"rows: {csv_out}")
    if plot_out is not None:
        plot(results, plot_out)
        if not args.json:
            print(f"plot: {plot_out}")
    failed = [r for r in results if r.error is not None]
    for r in failed:
        print(f"error: row {r.row} ({r.id}), {r.error}", file=sys.stderr)
    return EXIT_BAD_INPUT if failed else EXIT_OK
