"""TPU kernel figures: how fast real kernels and links run, per chip generation, each with its source.

The spec sheet (pathsim/catalog/hardware.py) says what a chip could do; this says what measured kernels
do. Sources are published kernel-level measurements (named beside each number: the scaling book "How to
Scale Your Model", ayaka14732/tpu-v4-latency-numbers, marin-community/marin#6736, Google's
accelerator-microbenchmarks) and the 900 jnp.dot timings on one TPU v5e and one v6e chip of
R-Oliver/tpu-perf-model (data/measurements.csv; copied into pathsim/data/kernels/). The three matmul constants
marked "fitted" are the output of `python -m pathsim.costs.tpu_kernels.fit`, which fits them on the v5e rows only;
tests/costs/tpu_kernels/test_fit.py re-runs that fit and checks these numbers against it. Nothing here was chosen
by looking at a whole-model result (PaLM's MFU or any other).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from pathsim.catalog.hardware import Sourced
from pathsim.errors import ConfigError

FIT_SOURCE = ("fitted on the 450 TPU v5e rows of R-Oliver/tpu-perf-model's jnp.dot timings by "
              "pathsim.costs.tpu_kernels.fit "
              "(least squares on log wall time; checked on the v6e rows, never fitted to them)")

# --- matmul: one set fitted on v5e, used for every generation with that generation's own spec ----------
MATMUL_EFFICIENCY = Sourced(0.918, f"MXU throughput share on large matmuls; {FIT_SOURCE}. Agrees with "
                            "R-Oliver's v5e compute-bound median (93% after the launch floor) and the scaling book's "
                            "'closer to 95% in normal use'")
MATMUL_HBM_EFFICIENCY = Sourced(1.0, f"HBM share reached by a matmul's operand streams; {FIT_SOURCE}. The "
                                "fit rests on the physical bound of 1: wall clocks of skinny shapes imply "
                                "rates above spec (the host floor overlapping the kernel)")
OVERLAP_SHARPNESS = Sourced(4.56, "p of the smooth max (Tc^p + Tm^p)^(1/p): near the ridge compute and memory "
                            f"do not overlap perfectly (R-Oliver/tpu-perf-model fitted 8 on v5e); {FIT_SOURCE}")
MATMUL_BLOCK = Sourced(2048, "output block edge of a matmul kernel: each operand is re-read from HBM once per "
                       "block of the other side (R-Oliver/tpu-perf-model's VMEM re-read model); the edge "
                       f"of 512/1024/2048/4096/unbounded that fits best; {FIT_SOURCE}")
KERNEL_FLOOR_S = Sourced(1.6e-6, "per-kernel on-device floor: TPU7x GEMM 128^3-256^3 by profiler device time "
                         "(Google accelerator-microbenchmarks, Ironwood GEMM table); the only published on-device "
                         "floor, used for every generation")
# --- fused (flash) attention: the block edges of the kernel frameworks call --------------------------
FLASH_BLOCK_Q = Sourced(512, "query block of splash attention, MaxText configs/base.yml sa_block_q (maxtext 0.2.5)")
FLASH_BLOCK_KV = Sourced(512, "key/value block of splash attention, MaxText configs/base.yml sa_block_kv "
                         "(maxtext 0.2.5)")
FLASH_FUSED_BACKWARD = Sourced(0, "1: one backward kernel writes dQ, dK and dV (5 block matmuls); 0: a dq kernel "
                               "and a dkv kernel each recompute the scores (3 + 4). MaxText configs/base.yml "
                               "sa_use_fused_bwd_kernel: false (maxtext 0.2.5)")
LAUNCH_OVERHEAD_S = Sourced(111.8e-6, "host enqueue-to-kernel-start of one jitted call, wall = max(floor, this + "
                          f"kernel); {FIT_SOURCE}. Launch overhead, not kernel time: used only to reproduce "
                          "wall-clock micro-benchmarks, never inside a compiled step")


@dataclass(frozen=True)
class KernelSpec:
    """Measured kernel and link behaviour of one TPU generation (see the module docstring)."""

    chip: str
    device_kind: str  # jax's Device.device_kind, to match calibration profiles
    mxu_edge: Sourced  # contraction dims are padded to it
    stream_hbm_efficiency: Sourced  # memory-bound kernels: share of the spec HBM bandwidth
    ici_payload_efficiency: Sourced  # payload rate of one link over the spec's one-way rate
    ici_first_hop_s: Sourced  # fixed cost of one remote DMA over one hop (payload + completion credit)
    ici_extra_hop_s: Sourced  # each further hop of the same DMA
    collective_fixed_s: Sourced  # a collective's launch cost at the JAX level (a 1-hop ppermute's intercept)
    # Memory-bound kinds with their own HBM share (the lowering's kind -> figure); others stream_hbm_efficiency.
    stream_by_kind: Mapping[str, Sourced] = field(default_factory=lambda: MappingProxyType({}))
    kernels_from: str = "measured kernel timings"  # where the kernel figures come from, for the report

    def stream_efficiency(self, kind: str) -> float:
        return self.stream_by_kind.get(kind, self.stream_hbm_efficiency).value


_V4_DMA = "ayaka14732/tpu-v4-latency-numbers, HBM ring results, TPU v4-8"
_V4_ICI = "ayaka14732/tpu-v4-latency-numbers, results/04_remote.md, TPU v4-8"
_PPERMUTE = "marin-community/marin#6736, ppermute large-payload fit on v5p-8 and v6e-8"

_V4_FIGURES = dict(
    stream_hbm_efficiency=Sourced(
        (1.00e12 + 1.07e12) / 2 / 1.2e12,
        f"[derived] mean of measured HBM->VMEM read 1.00 TB/s and VMEM->HBM write 1.07 TB/s per chip, both "
        f"TensorCores streaming, over the 1.2e12 spec ({_V4_DMA}); on v4 it prices the gather (a DMA), the "
        "other memory-bound kinds have the compiler's figures"),
    ici_payload_efficiency=Sourced(43.4e9 / 45e9, f"[derived] 43.4 GB/s measured payload of one link one way over "
                                   f"the 4.5e10 spec ({_V4_ICI})"),
    ici_first_hop_s=Sourced(1.85e-6, f"remote DMA fixed cost over 1 hop, 1941 cycles ({_V4_ICI})"),
    ici_extra_hop_s=Sourced(0.92e-6, f"each further hop, same DMA (cut-through) ({_V4_ICI})"),
    collective_fixed_s=Sourced(4.55e-6, f"v5p intercept 4.55 us ({_PPERMUTE}); stands in for v4, which has no "
                               "JAX-level collective measurement: the same 3D-torus ICI generation family"),
)

# TPU v4 has no published kernel timing. Its memory-bound kinds are priced at the HBM share at which libtpu's
# own estimated_cycles run each kind's computation on one v4 chip (python -m
# pathsim.calibration.compiler_kernels writes the data; python -m pathsim.costs.tpu_kernels.fit --compiler
# tpu_v4 fits it; tests/costs/tpu_kernels/test_fit.py checks these numbers against that fit). Its
# matmuls keep the v5e jnp.dot figures above: the same estimates put the lowering's weight matmuls within 5% of
# them, closer than a refit of the model on all compiled shapes (docs/kernels.md).
_V4_COMPILER = ("fitted on libtpu's estimated_cycles at 1.05 GHz of the kind's memory-bound kernels (6 sizes) "
                "among 370 kernels compiled for one TPU v4 chip "
                "(jax 0.10.2, libtpu 0.0.42.1; pathsim/data/kernels/compiler_kernels_tpu_v4.csv) by "
                "pathsim.costs.tpu_kernels.fit --compiler tpu_v4")
_V4_STREAM_SOURCE = ("HBM share over the bytes the lowering counts for this kind, at which the compiler runs "
                     "the kind's computation (bf16 activations; the compiler prices v4's vector work per "
                     f"element, so bf16 kernels stream at about half the f32 byte rate); {_V4_COMPILER}")
V4_COMPILER_STREAM: Mapping[str, Sourced] = MappingProxyType({
    "norm": Sourced(0.410, f"residual add + RMS norm; {_V4_STREAM_SOURCE}"),
    "softmax": Sourced(0.500, f"f32 scores to bf16 probabilities; {_V4_STREAM_SOURCE}"),
    "elementwise": Sourced(0.461, f"SwiGLU activation; {_V4_STREAM_SOURCE}"),
    "optimizer": Sourced(0.770, f"AdamW, bf16 weights, f32 moments; {_V4_STREAM_SOURCE}"),
})

_MXU_128 = Sourced(128, "scaling book, TPUs chapter: 128x128 MXU on v4/v5e/v5p")
_V4_HOPS = {k: _V4_FIGURES[k] for k in ("ici_first_hop_s", "ici_extra_hop_s")}  # the only hop measurement

KERNELS: Mapping[str, KernelSpec] = MappingProxyType({
    "tpu_v4": KernelSpec(
        chip="tpu_v4", device_kind="TPU v4",
        mxu_edge=_MXU_128, **_V4_FIGURES, stream_by_kind=V4_COMPILER_STREAM,
        kernels_from="memory-bound figures from the compiler's estimates"),
    "tpu_v5p": KernelSpec(
        chip="tpu_v5p", device_kind="TPU v5",
        mxu_edge=_MXU_128,
        stream_hbm_efficiency=Sourced(_V4_FIGURES["stream_hbm_efficiency"].value,
                                      "no v5p HBM measurement published: TPU v4's measured DMA share stands in "
                                      f"(same 2-TensorCore megacore design) ({_V4_DMA})"),
        ici_payload_efficiency=Sourced(86.3e9 / 90e9, f"[derived] ppermute slope 86.3 GB/s over 9e10 ({_PPERMUTE})"),
        **_V4_HOPS,
        collective_fixed_s=Sourced(4.55e-6, f"intercept 4.55 us ({_PPERMUTE})")),
    "tpu_v5e": KernelSpec(
        chip="tpu_v5e", device_kind="TPU v5 lite",
        mxu_edge=_MXU_128,
        stream_hbm_efficiency=Sourced(0.88, "memory-bound jnp.dot, wall >= 400 us: median 88% of 820 GB/s "
                                      "(R-Oliver/tpu-perf-model timings, launch floor subtracted)"),
        ici_payload_efficiency=Sourced(0.95, "AllGather over a 16-long wrapped ring reaches ~95% of 4.5e10 per "
                                       "link (scaling book, sharding chapter, measured plot)"),
        **_V4_HOPS,
        collective_fixed_s=Sourced(4.55e-6, f"no v5e ppermute fit: v5p's {_PPERMUTE}")),
    "tpu_v6e": KernelSpec(
        chip="tpu_v6e", device_kind="TPU v6 lite",
        mxu_edge=Sourced(256, "scaling book, TPUs chapter: 256x256 MXU on v6e"),
        stream_hbm_efficiency=Sourced(0.93, "memory-bound jnp.dot, wall >= 400 us: median 93% of 1640 GB/s "
                                      "(R-Oliver/tpu-perf-model timings, launch floor subtracted)"),
        ici_payload_efficiency=Sourced(86.8e9 / 90e9, f"[derived] ppermute slope 86.8 GB/s over 9e10 ({_PPERMUTE})"),
        **_V4_HOPS,
        collective_fixed_s=Sourced(2.29e-6, f"intercept 2.29 us ({_PPERMUTE})")),
})


# The clock XLA's per-kernel `estimated_cycles` count in, to report the compiler's own estimate in seconds.
# v5p and v6e have no published clock here: their compiled programs report no compiler estimate.
COMPILER_CLOCK_HZ: Mapping[str, Sourced] = MappingProxyType({
    "tpu_v4": Sourced(1.05e9, "ayaka14732/tpu-v4-latency-numbers: the local cycle counter runs at 1.05 GHz "
                              "(measured); the TPU v4 paper's 1050 MHz"),
    "tpu_v5e": Sourced(1.5e9, "scaling book, TPUs chapter: 5e13 bf16 FLOP/s per MXU at 1.5 GHz [uncertain]"),
})


def kernel_spec(chip: str) -> KernelSpec:
    try:
        return KERNELS[chip]
    except KeyError:
        raise ConfigError("cost_model", f"no TPU kernel figures for chip {chip!r}; use cost_model: roofline "
                          f"(known: {', '.join(sorted(KERNELS))})") from None
