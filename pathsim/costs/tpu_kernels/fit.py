"""Fit the matmul figures on v5e jnp.dot timings, check them on v6e: `python -m pathsim.costs.tpu_kernels.fit`;
fit a chip's figures on the compiler's kernel estimates: `python -m pathsim.costs.tpu_kernels.fit --compiler tpu_v4`.

Only the v5e rows are fitted. v6e is predicted with the same figures and v6e's own spec (256-wide MXU,
its peak and bandwidth): a model that only reproduced the rows it was fitted on would not be a model.
Wall clock = max(launch floor, launch overhead + kernel): the launch floor is host work that overlaps the
kernel, not kernel time. The spec-sheet roofline is scored beside it as launch floor + roofline kernel.

For a chip with no published kernel timings (TPU v4) the same matmul model is fitted on the compiler's own
kernel times (pathsim/calibration/compiler_kernels.py: estimated_cycles over the clock, device time with no launch), and each
memory-bound kind of the lowering gets the HBM share at which the compiler runs that kind's computation.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pathsim.catalog.hardware import ChipSpec
from pathsim.catalog.kernels import COMPILER_CLOCK_HZ, KERNEL_FLOOR_S, kernel_spec
from pathsim.costs.tpu_kernels.model import MatmulFigures, matmul_time_s
from pathsim.costs.tpu_kernels.reference_data import IN_BYTES, OUT_BYTES, DotTimings, MeasuredChip, \
    compiler_csv_path, load_timings

BLOCKS = (512.0, 1024.0, 2048.0, 4096.0, float("inf"))  # candidate output block edges; inf: no re-reads
FIT_SKU, CHECK_SKU = "v5e", "v6e"


@dataclass(frozen=True)
class FitResult:
    figures: MatmulFigures
    launch_overhead_s: float
    loss: float  # half the sum of squared log errors of the chosen block, on the fitted rows
    rows: int


def kernel_time_s(rows: pd.DataFrame, chip: MeasuredChip, figures: MatmulFigures) -> np.ndarray:
    in_b = rows.dtype.map(IN_BYTES).to_numpy(float)
    return matmul_time_s(rows.M.to_numpy(float), rows.K.to_numpy(float), rows.N.to_numpy(float), 1.0, in_b,
                         rows.dtype.map(OUT_BYTES).to_numpy(float),
                         peak_flops_per_s=rows.dtype.map(chip.peak_flops_per_s).to_numpy(float),
                         hbm_bytes_per_s=chip.hbm_bytes_per_s, mxu_edge=chip.mxu_edge, figures=figures)


def wall_s(rows: pd.DataFrame, chip: MeasuredChip, figures: MatmulFigures, launch_overhead_s: float) -> np.ndarray:
    return np.maximum(chip.launch_floor_s, launch_overhead_s + kernel_time_s(rows, chip, figures))


def roofline_wall_s(rows: pd.DataFrame, chip: MeasuredChip) -> np.ndarray:
    """pathsim's spec-sheet model (costs.compute.AnalyticCostModel: k and n padded to the MXU) + the floor."""
    m, n, k = (rows[c].to_numpy(float) for c in ("M", "N", "K"))
    pad = lambda x: np.ceil(x / chip.mxu_edge) * chip.mxu_edge  # noqa: E731
    peak = rows.dtype.map(chip.peak_flops_per_s).to_numpy(float) * (k * n) / (pad(k) * pad(n))
    in_b, out_b = rows.dtype.map(IN_BYTES).to_numpy(float), rows.dtype.map(OUT_BYTES).to_numpy(float)
    nbytes = (m * k + k * n) * in_b + m * n * out_b
    return chip.launch_floor_s + np.maximum(2 * m * n * k / peak, nbytes / chip.hbm_bytes_per_s)


def fit(timings: DotTimings, sku: str = FIT_SKU) -> FitResult:
    """Least squares on log wall time over every row of `sku`, for each candidate block edge; the best."""
    from scipy.optimize import least_squares

    rows, chip = timings.of(sku), timings.chips[sku]
    measured = np.log(rows.median_s.to_numpy(float))
    best: FitResult | None = None
    for block in BLOCKS:
        def residuals(x: np.ndarray) -> np.ndarray:
            figures = MatmulFigures(efficiency=x[0], hbm_efficiency=x[1], sharpness=x[2], block=block)
            return np.log(wall_s(rows, chip, figures, x[3])) - measured

        # Efficiencies are shares of the spec (at most 1); the launch overhead is of the launch floor's order.
        sol = least_squares(residuals, x0=[0.9, 0.9, 6.0, chip.launch_floor_s],
                            bounds=([0.3, 0.3, 1.0, 0.0], [1.0, 1.0, 30.0, 2 * chip.launch_floor_s]))
        if best is None or sol.cost < best.loss:
            figures = MatmulFigures(efficiency=float(sol.x[0]), hbm_efficiency=float(sol.x[1]),
                                    sharpness=float(sol.x[2]), block=block, floor_s=KERNEL_FLOOR_S.value)
            best = FitResult(figures=figures, launch_overhead_s=float(sol.x[3]), loss=float(sol.cost),
                             rows=len(rows))
    return best


def error_table(rows: pd.DataFrame, predicted_s: np.ndarray, launch_floor_s: float) -> pd.DataFrame:
    """|predicted / measured - 1| by family: all rows, and rows whose kernel outweighs the host floor."""
    err = np.abs(predicted_s / rows.median_s.to_numpy(float) - 1.0)
    frame = rows.assign(err=err, kernel_bound=rows.median_s >= 2 * launch_floor_s)
    out = []
    for family, part in [("all", frame)] + sorted(frame.groupby("family")):
        worst = part.loc[part.err.idxmax()]
        big = part[part.kernel_bound]
        out.append({"family": family, "rows": len(part), "median_err": part.err.median(),
                    "p90_err": part.err.quantile(0.9),
                    "kernel_bound_rows": len(big),
                    "kernel_bound_median_err": big.err.median() if len(big) else float("nan"),
                    "kernel_bound_p90_err": big.err.quantile(0.9) if len(big) else float("nan"),
                    "worst": f"{worst.M}x{worst.N}x{worst.K} {worst['dtype']} {100 * worst.err:.0f}%"})
    return pd.DataFrame(out).set_index("family")


def report(timings: DotTimings) -> str:
    result = fit(timings)
    f = result.figures
    lines = [f"fit on {result.rows} {FIT_SKU} rows: matmul efficiency {f.efficiency:.3f}, matmul HBM efficiency "
             f"{f.hbm_efficiency:.3f}, overlap sharpness {f.sharpness:.2f}, block {f.block:g}, "
             f"launch overhead {1e6 * result.launch_overhead_s:.1f} us "
             f"(launch floor {1e6 * timings.chips[FIT_SKU].launch_floor_s:.1f} us)"]
    for sku, role in ((FIT_SKU, "fitted"), (CHECK_SKU, "predicted, not fitted")):
        rows, chip = timings.of(sku), timings.chips[sku]
        for name, pred in (("kernel model", wall_s(rows, chip, f, result.launch_overhead_s)),
                           ("spec-sheet roofline", roofline_wall_s(rows, chip))):
            table = error_table(rows, pred, chip.launch_floor_s)
            pct = table.copy()
            for col in ("median_err", "p90_err", "kernel_bound_median_err", "kernel_bound_p90_err"):
                pct[col] = (100 * pct[col]).round(1)
            lines += ["", f"{sku} ({role}), {name}: |error| of wall time, %", pct.to_string()]
    return "\n".join(lines)


@dataclass(frozen=True)
class CompilerFit:
    """A chip's memory-bound figures fitted on the compiler's kernel times, and how the matmul figures fare."""

    chip: str
    stream_efficiency: dict[str, float]  # memory-bound kind -> share of the spec HBM bandwidth
    matmul_error: pd.DataFrame  # per family: rows, median and p90 |error| of the matmul figures, percent
    matmul_rows: int
    memory_rows: int


def load_compiler_kernels(chip: str, folder=None) -> pd.DataFrame:
    """compiler_kernels_<chip>.csv with each kernel's estimated time (`estimate_s`, at the catalog clock)."""
    from pathsim.errors import ConfigError

    path = compiler_csv_path(chip, folder)
    if not path.is_file():
        raise ConfigError("--compiler", f"{path} does not exist; write it with "
                          f"python -m pathsim.calibration.compiler_kernels --chip {chip}")
    frame = pd.read_csv(path)
    return frame.assign(estimate_s=frame.cycles / COMPILER_CLOCK_HZ[chip].value)


def compiler_matmul_time_s(rows: pd.DataFrame, chip: ChipSpec, figures: MatmulFigures) -> np.ndarray:
    """The kernel model's time for the compiled bf16 matmuls (bf16 in and out, as the lowering prices them)."""
    col = lambda c: rows[c].to_numpy(float)  # noqa: E731
    return matmul_time_s(col("m"), col("k"), col("n"), col("batch"), 2.0, 2.0,
                         peak_flops_per_s=chip.peak_bf16_flops_per_s, hbm_bytes_per_s=chip.hbm_bytes_per_s,
                         mxu_edge=int(kernel_spec(chip.name).mxu_edge.value), figures=figures)


def fit_compiler_kernels(frame: pd.DataFrame, chip: ChipSpec, figures: MatmulFigures) -> CompilerFit:
    """Each memory-bound kind's HBM share (least squares on log time, with the per-kernel floor), and the
    matmul figures' error against the compiler's estimate of every compiled matmul, by shape family."""
    from scipy.optimize import least_squares

    stream: dict[str, float] = {}
    memory = frame[frame.kind != "matmul"]
    for kind, rows in memory.groupby("kind"):
        nbytes, estimate = rows.lowering_bytes.to_numpy(float), rows.estimate_s.to_numpy(float)
        sol = least_squares(lambda x: np.log(KERNEL_FLOOR_S.value + nbytes / (x[0] * chip.hbm_bytes_per_s))
                            - np.log(estimate), x0=[0.5], bounds=([0.05], [1.0]))
        stream[str(kind)] = float(sol.x[0])
    matmuls = frame[frame.kind == "matmul"].reset_index(drop=True)
    err = 100 * np.abs(compiler_matmul_time_s(matmuls, chip, figures) / matmuls.estimate_s.to_numpy(float) - 1)
    table = matmuls.assign(err=err).groupby("family").err.agg(["count", "median", lambda e: e.quantile(0.9)])
    table.columns = ["rows", "median |err| %", "p90 |err| %"]
    return CompilerFit(chip=chip.name, stream_efficiency=stream, matmul_error=table, matmul_rows=len(matmuls),
                       memory_rows=len(memory))


def compiler_report(chip_name: str, folder=None) -> str:
    from pathsim.catalog.hardware import chip_spec
    from pathsim.costs.tpu_kernels.model import CATALOG_MATMUL

    frame = load_compiler_kernels(chip_name, folder)
    result = fit_compiler_kernels(frame, chip_spec(chip_name, "--compiler"), CATALOG_MATMUL)
    return "\n".join([
        f"{len(frame)} kernels compiled for one {chip_name} chip ({result.matmul_rows} matmuls, "
        f"{result.memory_rows} memory-bound)",
        "memory-bound kinds, share of the spec HBM bandwidth over the bytes the lowering counts: "
        + ", ".join(f"{k} {v:.3f}" for k, v in sorted(result.stream_efficiency.items())),
        "", "matmuls, the kernel model's figures (v5e jnp.dot fit) against the compiler's estimates:",
        result.matmul_error.round(1).to_string()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.costs.tpu_kernels.fit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", default=None, help="folder of jnp_dot_v5e_v6e.csv and its runs file")
    parser.add_argument("--compiler", metavar="CHIP", default=None,
                        help="fit CHIP's figures on the compiler's kernel estimates (compiler_kernels_CHIP.csv)")
    args = parser.parse_args(argv)
    if args.compiler:
        print(compiler_report(args.compiler, args.reference_dir))
    else:
        print(report(load_timings(args.reference_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
