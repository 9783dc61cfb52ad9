"""The `pathsim` command. Bad input ends in one line on stderr and exit code 2, never a traceback.

Exit codes: 0 done; 2 bad input, or an output file that cannot be written; 4 simulated, but the plan does
not fit in HBM; 130 interrupted (Ctrl-C); 141 the reader of stdout went away (`| head`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pathsim.errors import ConfigError
from pathsim.processes import Terminated, terminate_cleanly

EXIT_OK, EXIT_BAD_INPUT, EXIT_DOES_NOT_FIT, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 2, 4, 130, 141
PROGRAMS = ("lowered", "xla")
COST_MODEL_NAMES = ("tpu_kernels", "compiler", "roofline")
RESULTS_DIR = Path("results")  # default folder of output files (.gitignore lists it)

# Subcommands contributed by feature packages: module -> it exposes register(subparsers).
_FEATURE_CLIS = ("pathsim.calibration.cli", "pathsim.cli.sweep", "pathsim.cli.validate")


def _has_module(name: str) -> bool:
    """True when a feature package is installed; a missing parent package counts as absent."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@contextmanager
def spinner(label: str, enabled: bool, delay_s: float = 1.0,
            console=None) -> Iterator[Callable[[str | None], None] | None]:
    """A spinner with the elapsed time on stderr, shown only once the work has taken `delay_s`: quick
    runs print nothing extra. Transient: it leaves no line behind. Yields a function that shows another
    text for a while (None: the label again), or None when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True,
                        console=console or Console(stderr=True), refresh_per_second=4)
    task = progress.add_task(label, total=None)
    timer = threading.Timer(delay_s, progress.start)
    timer.daemon = True
    timer.start()
    try:
        yield lambda text: progress.update(task, description=label if text is None else f"{label}: {text}")
    finally:
        timer.cancel()
        timer.join()  # a start in flight finishes before the stop
        progress.stop()


@contextmanager
def owns_compile_line(status: Callable[[str | None], None] | None) -> Iterator[None]:
    """An XLA compile inside tells the spinner what it does rather than drawing a line of its own."""
    if status is None:
        yield
        return
    from pathsim.workload.xla.status import compile_status

    token = compile_status.set(status)
    try:
        yield
    finally:
        compile_status.reset(token)


def _piped(stream) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):  # not a file at all (captured)
        return False


def show_progress(args: argparse.Namespace) -> bool:
    """Progress only for a person at a terminal: not with --json, not when the output is piped to
    another program (which may be drawing on the same terminal), not when stderr is no terminal."""
    return not getattr(args, "json", False) and sys.stderr.isatty() and not _piped(sys.stdout)


# Flags of `pathsim run` that only some kinds of file take: flag -> attribute.
_RUN_FLAGS = {"--json": "json", "--trace": "trace", "--out": "out", "--mode": "mode", "--program": "program",
              "--cost-model": "cost_model", "--xla-flags": "xla_flags"}


def _refuse(args: argparse.Namespace, what: str, flags: tuple[str, ...], hint: str = "") -> None:
    """No flag is silently ignored: one that does not apply to this kind of file is refused."""
    for flag in flags:
        if getattr(args, _RUN_FLAGS[flag]) not in (None, False):
            raise ConfigError(flag, f"does not apply to {what}{hint}")


def _default_out(name: object, fallback: str) -> Path:
    """results/NAME.csv, with a name reduced to a safe file name (a `name:` may hold a slash)."""
    safe = re.sub(r"[^\w.-]+", "_", str(name)).strip("._") if isinstance(name, str) else ""
    return RESULTS_DIR / f"{safe or fallback}.csv"


def _run_pathways(args: argparse.Namespace, path: Path, data: dict) -> int:
    from pathsim.results.outputs import check_output, write_atomic
    from pathsim.studies.pathways import EXIT_DEADLOCK, deadlock_detected, run_pathways_experiment, summarize

    _refuse(args, "a Pathways runtime experiment", ("--trace", "--mode", "--program", "--cost-model", "--xla-flags"))
    # --json prints the rows; a CSV is written too unless --json was asked for without --out.
    out = None
    if args.out is not None or not args.json:
        out = check_output(args.out if args.out is not None else _default_out(data.get("name"), path.stem), "--out")
    table = run_pathways_experiment(path)
    if args.json:
        rows = json.loads(table.to_json(orient="records"))
        print(json.dumps({"experiment": data.get("name", path.stem), "kind": data["kind"], "rows": rows}, indent=2))
    else:
        print(summarize(data["kind"], table))
    if out is not None:
        write_atomic(out, lambda tmp: table.to_csv(tmp, index=False), "--out")
        if not args.json:
            print(f"results: {out}")
    return EXIT_DEADLOCK if deadlock_detected(data["kind"], table) else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from pathsim.config.experiment import read_yaml

    if args.maxtext is not None:
        return _run_maxtext(args)
    for flag, given in (("--topology", args.topology), ("--write-experiment", args.write_experiment)):
        if given is not None:
            raise ConfigError(flag, "applies to a MaxText launch only (--maxtext CONFIG)")
    if args.experiment is None or args.settings:
        raise ConfigError("run", "give one experiment file (key=value settings go with --maxtext CONFIG)")
    path = Path(args.experiment)
    data = read_yaml(path, "experiment")
    if "sweep" in data:
        raise ConfigError("sweep", f"{path} is a sweep file: run it with `pathsim sweep {path}`")
    kind = data.get("kind")
    if isinstance(kind, str) and _has_module("pathsim.studies.pathways"):
        from pathsim.studies.pathways import PATHWAYS_KINDS

        if kind in PATHWAYS_KINDS:
            return _run_pathways(args, path, data)
    from pathsim.studies.jobs import is_shared_pod, jobs_report, run_shared_pod

    if is_shared_pod(data):
        _refuse(args, "a shared-pod job file", ("--trace", "--out", "--mode", "--program", "--cost-model",
                                                "--xla-flags"),
                " (each job is simulated chip by chip)")
        with spinner(f"simulating {path.name}", show_progress(args)):
            results = run_shared_pod(path)
        if args.json:
            print(json.dumps([dict(vars(r), slowdown=r.slowdown) for r in results], indent=2))
        else:
            print(jobs_report(data.get("name", path.stem), results), end="")
        return EXIT_OK
    from pathsim.api import run_experiment
    from pathsim.results.outputs import check_output

    _refuse(args, "a training experiment", ("--out",),
            ": it prints its report (--json for JSON; --trace FILE for the timeline)")
    trace = check_output(args.trace, "--trace") if args.trace is not None else None  # before simulating
    mode = f" ({args.mode} mode)" if args.mode else ""
    with spinner(f"simulating {path.name}{mode}", show_progress(args)) as status, owns_compile_line(status):
        result = run_experiment(path, mode=args.mode, program=args.program, cost_model=args.cost_model,
                                xla_flags=args.xla_flags)
    return _report(args, result, trace)


def _report(args: argparse.Namespace, result, trace: Path | None) -> int:
    """The report (or JSON) first, then the trace: a trace that cannot be written must not lose it."""
    from pathsim.results.report import result_dict, text_report

    if args.json:
        print(json.dumps(result_dict(result), indent=2))
    else:
        print(text_report(result), end="")
    sys.stdout.flush()
    if trace is not None:
        from pathsim.results.trace import write_trace

        write_trace(result.timeline, trace)
        if not args.json:
            print(f"trace: {trace} (open it in ui.perfetto.dev)")
    return EXIT_OK if result.memory.feasible else EXIT_DOES_NOT_FIT


def _run_maxtext(args: argparse.Namespace) -> int:
    """`pathsim run --maxtext base.yml model_name=... key=value ... --topology v6e-256`: a MaxText launch."""
    from pathsim.api import simulate_config
    from pathsim.config.maxtext import experiment_yaml, load_maxtext
    from pathsim.results.outputs import check_output, write_text_atomic

    _refuse(args, "a MaxText launch", ("--out",), ": it prints its report (--json for JSON)")
    settings = ([args.experiment] if args.experiment else []) + args.settings
    trace = check_output(args.trace, "--trace") if args.trace is not None else None
    written = check_output(args.write_experiment, "--write-experiment") if args.write_experiment else None
    exp, topo, launch = load_maxtext(args.maxtext, settings, args.topology)
    update = {k: v for k, v in (("program", args.program), ("cost_model", args.cost_model),
                                ("xla_flags", args.xla_flags)) if v is not None}
    if update:
        exp = exp.model_copy(update=update)
    print("MaxText keys read and ignored (no effect on the step): " + (", ".join(launch.ignored) or "none"),
          file=sys.stderr)
    for note in launch.notes:
        print(f"note: {note}", file=sys.stderr)
    if written is not None:
        write_text_atomic(written, experiment_yaml(launch, written), "--write-experiment")
        print(f"experiment: {written}", file=sys.stderr)
    with spinner(f"simulating {exp.name}", show_progress(args)) as status, owns_compile_line(status):
        result = simulate_config(exp, topo, base_dir=Path.cwd(), mode=args.mode)
    return _report(args, result, trace)


def _models(args: argparse.Namespace) -> int:
    """The model library an experiment names (`model: palm540b`), with its parameter counts."""
    from pathsim.catalog.models import MODELS, architecture
    from pathsim.config.experiment import ModelConfig
    from pathsim.workload.model import total_params

    print(f"{'name':<11} {'params':>8} {'layers':>6} {'d_model':>7} {'heads':>5} {'kv':>3}  source")
    for name, entry in MODELS.items():
        m = ModelConfig(**architecture(name))
        print(f"{name:<11} {total_params(m) / 1e9:>7.2f}B {m.n_layers:>6} {m.d_model:>7} {m.n_heads:>5} "
              f"{m.kv_heads:>3}  {entry['source']}")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, like every other bad input."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def add_program_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--program", choices=PROGRAMS,
                        help="which program is simulated, over the experiment's `program`: lowered "
                             "(pathsim's own lowering) or xla (the step XLA compiles for the TPU)")


def xla_flags_arg(value: str) -> str | list[str]:
    """--xla-flags: a flag set's name, or flags (--xla-flags='--a=1 --b=2')."""
    from pathsim.catalog.xla_flags import check_setting

    setting = value.split() if value.lstrip().startswith("--") else value
    try:
        check_setting(setting)
    except ConfigError as e:  # argparse's own line would only say the value is invalid
        raise argparse.ArgumentTypeError(e.message) from None
    return setting


def build_parser() -> argparse.ArgumentParser:
    from pathsim import __version__

    parser = _Parser(prog="pathsim", description="Simulate Pathways-style training on TPU pods.",
                     epilog="exit codes: 0 done; 2 bad input or an output that cannot be written; 4 simulated, "
                            "but the plan does not fit in HBM; 130 interrupted; 141 stdout closed early")
    parser.add_argument("--version", action="version", version=f"pathsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate one training step of an experiment")
    run.add_argument("experiment", nargs="?", help="experiment YAML, e.g. experiments/palm540b.yaml")
    run.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                     help="with --maxtext: MaxText settings, as on MaxText's command line")
    run.add_argument("--maxtext", metavar="CONFIG",
                     help="simulate a MaxText launch: its config file (base.yml: MaxText's own, as pathsim "
                          "ships it) and KEY=VALUE settings, e.g. model_name=llama3.1-8b per_device_batch_size=4")
    run.add_argument("--topology", metavar="SLICE|FILE",
                     help="with --maxtext: a slice name (v6e-256, v5p-1024, v5e-256x2 for two slices) or a "
                          "topology file; default: the launch's compile_topology and num_slices")
    run.add_argument("--write-experiment", metavar="FILE",
                     help="with --maxtext: also write the launch as a pathsim experiment, to edit and rerun")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    run.add_argument("--trace", metavar="FILE",
                     help="write the timeline as a Chrome/Perfetto trace (training experiments)")
    run.add_argument("--out", metavar="CSV",
                     help="results table of a Pathways runtime experiment (default results/NAME.csv)")
    run.add_argument("--mode", choices=("auto", "folded", "full"),
                     help="folded: one chip per device group; full: every chip and link (default: the "
                          "experiment's scenario.mode, auto)")
    add_program_option(run)
    run.add_argument("--cost-model", choices=COST_MODEL_NAMES,
                     help="how kernels are priced, over the experiment's `cost_model`: tpu_kernels (measured "
                          "kernel figures), compiler (the compiler's own estimates; with --program xla) or "
                          "roofline (the spec sheet)")
    run.add_argument("--xla-flags", metavar="SET|FLAGS", type=xla_flags_arg,
                     help="the XLA/libtpu flags --program xla compiles with, over the experiment's `xla_flags`: "
                          "maxtext (the chip's MaxText launch flags, the default), libtpu (libtpu's defaults), "
                          "a named set (maxtext_v4, maxtext_v5e, maxtext_v5p, maxtext_v6e) or flags: "
                          "--xla-flags='--name=value ...'")
    run.set_defaults(handler=_run)
    sub.add_parser("models", help="list the model library (`model: NAME` in an experiment)").set_defaults(
        handler=_models)
    for module in _FEATURE_CLIS:
        if _has_module(module):
            importlib.import_module(module).register(sub)
    return parser


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that Python's exit-time flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (captured in tests)
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            with terminate_cleanly():  # SIGTERM/SIGHUP unwind like Ctrl-C: children and temporary files go
                code = int(args.handler(args) or 0)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = EXIT_BAD_INPUT
        except Terminated as exc:
            print(f"terminated ({exc})", file=sys.stderr)
            code = exc.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            code = EXIT_INTERRUPTED
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `pathsim run X --json | head -1`: the reader has what it wanted
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
