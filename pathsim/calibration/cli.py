"""`pathsim calibrate` and `pathsim validate-calibration`. jax is imported inside the handlers only,
after the CPU device count is set, so that `pathsim run` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pathsim.errors import ConfigError
from pathsim.results.outputs import check_output, write_text_atomic

_GENERIC_SIZES = {"cpu": (64, 256, 1024), "gpu": (256, 1024, 4096), "tiny": (32, 128)}
_COLLECTIVE_BYTES = {"cpu": (2.0**12, 2.0**16, 2.0**20, 2.0**23), "gpu": (2.0**16, 2.0**20, 2.0**24, 2.0**27),
                     "tiny": (2.0**12, 2.0**16)}
_DTYPES = ("float32", "bfloat16")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=sorted(_GENERIC_SIZES), default=None,
                   help="case sizes: cpu, gpu (bigger models) or tiny (tests); default from the backend")
    p.add_argument("--devices", type=int, default=4,
                   help="CPU devices to create with XLA's host device count flag (default 4; 1 for none)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before timing (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs; the median is kept (default 7)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    cal = subparsers.add_parser("calibrate", help="measure this machine's kernels with JAX into a profile")
    cal.add_argument("--out", required=True, type=Path, help="profile to write: .json or .csv")
    cal.add_argument("--dtypes", default=",".join(_DTYPES), help="matmul dtypes of the generic grid")
    cal.add_argument("--from-reference", metavar="CHIP", default=None,
                     help="measure nothing: write the TPU kernel model's table for CHIP (e.g. tpu_v4), built "
                          "from published TPU kernel timings, in the same format as a measured profile")
    _common(cal)
    cal.set_defaults(handler=calibrate_command)
    val = subparsers.add_parser("validate-calibration",
                                help="run real JAX training steps and compare them with pathsim's prediction")
    val.add_argument("--profile", required=True, type=Path, help="profile measured on this machine")
    val.add_argument("--report", type=Path, default=None, help="also write the report to this file")
    val.add_argument("--kernels", type=Path, default=None,
                     help="kernel timings (pathsim profile-kernels): also predict from XLA's imported program")
    val.add_argument("--kernels-out", type=Path, default=None,
                     help="trace each step's kernels between its timed runs (same host load), write those kernel "
                          "timings here (.json) and also predict from XLA's imported program")
    _common(val)
    val.set_defaults(handler=validate_command)
    ker = subparsers.add_parser("profile-kernels",
                                help="time every kernel of the closed-loop cases' compiled steps (JAX profiler)")
    ker.add_argument("--out", required=True, type=Path, help="kernel timings to write (.json)")
    _common(ker)
    ker.set_defaults(handler=time_kernels_command)


def _check_counts(args: argparse.Namespace) -> None:
    for field in ("devices", "repeats"):
        if getattr(args, field) < 1:
            raise ConfigError(f"--{field}", f"must be at least 1, got {getattr(args, field)}")
    if args.warmup < 0:
        raise ConfigError("--warmup", f"must be 0 or more, got {args.warmup}")


def _start_jax(devices: int):
    """Import jax with `devices` CPU devices (the flag only acts before jax's first import); libtpu's
    alarms about a TPU that is not there are kept off the terminal."""
    if "jax" not in sys.modules and devices > 1:
        flag = f"--xla_force_host_platform_device_count={devices}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    from pathsim.calibration.quiet_start import start_quietly

    def start():
        import jax

        jax.devices()  # the backend starts here, and libtpu with it
        return jax

    return start_quietly(start, lambda jax: jax.default_backend() == "tpu")


def _cases(args: argparse.Namespace, jax):
    from pathsim.calibration.cases import cases

    preset = args.preset or ("gpu" if jax.default_backend() == "gpu" else "cpu")
    return preset, cases(preset, len(jax.devices()))


def calibrate_command(args: argparse.Namespace) -> int:
    _check_counts(args)
    if args.out.suffix not in (".json", ".csv"):
        raise ConfigError("--out", f"must end in .json or .csv, got {args.out.name!r}")
    check_output(args.out, "--out")  # before minutes of measuring
    if args.from_reference is not None:
        return _write_reference_profile(args.from_reference, args.out)
    dtypes = tuple(d for d in args.dtypes.split(",") if d)
    unknown = [d for d in dtypes if d not in _DTYPES]
    if unknown:
        raise ConfigError("--dtypes", f"unknown {unknown}; known: {', '.join(_DTYPES)}")
    jax = _start_jax(args.devices)
    from pathsim.calibration.grid import build_grid
    from pathsim.calibration.microbench import Timing, run_calibration
    from pathsim.calibration.profile_files import save_cost_profile

    preset, case_list = _cases(args, jax)
    grid = build_grid(case_list, dtypes, _GENERIC_SIZES[preset], _COLLECTIVE_BYTES[preset])
    profile = run_calibration(grid, Timing(args.warmup, args.repeats), progress=not args.no_progress)
    save_cost_profile(profile, args.out)
    meta = profile.meta
    print(f"wrote {args.out}: {meta.device_count} x {meta.device_kind} ({meta.backend}, jax {meta.jax_version}); "
          f"{len(profile.matmuls)} matmuls, {len(profile.memory_ops)} memory-bound ops, "
          f"{len(profile.collectives)} collectives; call overhead {meta.call_overhead_s * 1e6:.1f} us, "
          f"concurrent slowdown {meta.concurrent_slowdown:.2f}x")
    return 0


def _write_reference_profile(chip: str, out: Path) -> int:
    from pathsim.calibration.profile_files import save_cost_profile
    from pathsim.calibration.reference_profile import reference_profile

    profile = reference_profile(chip)
    save_cost_profile(profile, out)
    print(f"wrote {out}: the TPU kernel model for {chip} ({profile.meta.device_kind}); {len(profile.matmuls)} "
          f"matmuls, {len(profile.memory_ops)} memory-bound ops; no measurement was taken")
    return 0


def validate_command(args: argparse.Namespace) -> int:
    _check_counts(args)
    from pathsim.calibration.kernel_timings import load_kernel_timings
    from pathsim.costs.calibrated.profile import load_cost_profile

    if args.kernels is not None and args.kernels_out is not None:
        raise ConfigError("--kernels-out", "give --kernels (stored kernel timings) or --kernels-out, not both")
    if args.kernels_out is not None and args.kernels_out.suffix != ".json":
        raise ConfigError("--kernels-out", f"must end in .json, got {args.kernels_out.name!r}")
    for path, field in ((args.kernels_out, "--kernels-out"), (args.report, "--report")):
        if path is not None:
            check_output(path, field)  # before minutes of measuring
    profile = load_cost_profile(args.profile, "--profile")
    kernels = load_kernel_timings(args.kernels) if args.kernels is not None else None
    jax = _start_jax(args.devices)
    from pathsim.calibration.kernel_timings import save_kernel_timings
    from pathsim.calibration.validate import format_report, run_validation

    _, case_list = _cases(args, jax)
    report = run_validation(profile, case_list, args.warmup, args.repeats, progress=not args.no_progress,
                            kernels=kernels, trace_kernels=args.kernels_out is not None)
    if args.kernels_out is not None:
        save_kernel_timings(report.kernel_timings, args.kernels_out, "--kernels-out")
    text = format_report(report)
    print(text)
    if args.report is not None:
        write_text_atomic(args.report, text + "\n", "--report")
    return 0


def time_kernels_command(args: argparse.Namespace) -> int:
    _check_counts(args)
    if args.out.suffix != ".json":
        raise ConfigError("--out", f"must end in .json, got {args.out.name!r}")
    check_output(args.out, "--out")
    jax = _start_jax(args.devices)
    from pathsim.calibration.kernel_bench import run_kernel_timings
    from pathsim.calibration.kernel_timings import save_kernel_timings

    _, case_list = _cases(args, jax)
    kernels = run_kernel_timings(case_list, args.warmup, args.repeats, progress=not args.no_progress)
    save_kernel_timings(kernels, args.out)
    meta = kernels.meta
    print(f"wrote {args.out}: {len(kernels.programs)} compiled steps on {meta.device_count} x {meta.device_kind} "
          f"({meta.backend}, jax {meta.jax_version}), {sum(len(p.kernels) for p in kernels.programs)} kernels; "
          f"host load {meta.host_load_1min:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (python -m pathsim.calibration.cli) until pathsim/cli.py registers these."""
    parser = argparse.ArgumentParser(prog="pathsim")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
