"""Every compute cost model by name, with where its figures come from.

An experiment's `cost_model:` names a built-in model (`pathsim.api.cost_model_for` builds it); a
`calibration.profile` instead names a profile measured on a real device, which pathsim.calibration loads
(the calibration loop sits above the core, so its entry here has no builder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pathsim.catalog.hardware import ChipSpec
from pathsim.catalog.kernels import kernel_spec
from pathsim.costs.compiler_estimates import CompilerEstimateCostModel, compiler_clock_hz
from pathsim.costs.compute import AnalyticCostModel, ComputeCostModel
from pathsim.costs.tpu_kernels import TpuKernelCostModel


@dataclass(frozen=True)
class CostModelEntry:
    name: str
    source: str  # where the model's figures come from
    build: Callable[[ChipSpec], ComputeCostModel] | None  # None: built from a measured profile


def _kernel_model(chip: ChipSpec) -> TpuKernelCostModel:
    return TpuKernelCostModel(chip, kernel_spec(chip.name))


def _compiler_model(chip: ChipSpec) -> CompilerEstimateCostModel:
    kernels = _kernel_model(chip)
    return CompilerEstimateCostModel(fallback=kernels, links=kernels.links, clock_hz=compiler_clock_hz(chip))


COST_MODELS: dict[str, CostModelEntry] = {e.name: e for e in (
    CostModelEntry("tpu_kernels", "kernel figures fitted on measured TPU kernel timings "
                   "(pathsim/catalog/kernels.py, docs/kernels.md)",
                   _kernel_model),
    CostModelEntry("roofline", "spec-sheet peak FLOP/s and HBM bandwidth (pathsim/catalog/hardware.py)",
                   AnalyticCostModel),
    CostModelEntry("compiler", "the compiler's own per-kernel estimated_cycles over the chip's clock "
                   "(pathsim/catalog/kernels.py COMPILER_CLOCK_HZ); imported XLA programs only; kernels without "
                   "an estimate by the TPU kernel model", _compiler_model),
    CostModelEntry("calibrated", "a profile measured with `pathsim calibrate` on a real device "
                   "(calibration.profile in the experiment; pathsim.calibration, docs/calibration.md)", None),
)}


def cost_model_named(name: str, chip: ChipSpec) -> ComputeCostModel:
    """The built-in model `name` for `chip` (KeyError for a name that is not registered or has no builder)."""
    build = COST_MODELS[name].build
    if build is None:
        raise KeyError(f"cost model {name!r} is built from a profile, not by name")
    return build(chip)
