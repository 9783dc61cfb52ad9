"""Fit the matmul figures on v5e jnp.dot timings, check them on v6e: `python -m pathsim.costs.tpu_kernels.fit`.

Only the v5e rows are fitted. v6e is predicted with the same figures and v6e's own spec (256-wide MXU,
its peak and bandwidth): a model that only reproduced the rows it was fitted on would not be a model.
Wall clock = max(launch floor, launch overhead + kernel): the launch floor is host work that overlaps the
kernel, not kernel time. The spec-sheet roofline is scored beside it as launch floor + roofline kernel.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pathsim.catalog.kernels import KERNEL_FLOOR_S
from pathsim.costs.tpu_kernels.model import MatmulFigures, matmul_time_s
from pathsim.costs.tpu_kernels.reference_data import IN_BYTES, OUT_BYTES, DotTimings, MeasuredChip, load_timings

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.costs.tpu_kernels.fit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", default=None, help="folder of jnp_dot_v5e_v6e.csv and its runs file")
    args = parser.parse_args(argv)
    print(report(load_timings(args.reference_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
