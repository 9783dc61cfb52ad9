"""TPU kernel costs from real kernel timings: the default cost model for TPU chips.

model.py prices one kernel (matmul, memory-bound op) and times collectives on links, from the figures in
pathsim/catalog/kernels.py; fit.py fits the matmul figures on the measured v5e jnp.dot timings and checks
them on v6e. The same table in the cost-profile format is pathsim/calibration/reference_profile.py.
"""

from pathsim.costs.tpu_kernels.model import TpuKernelCostModel

__all__ = ["TpuKernelCostModel"]
