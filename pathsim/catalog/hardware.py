"""Chip, link, host and pod constants, each traced to its published source: Cloud TPU docs, the TPU v4 paper
(ISCA 2023), the scaling book ("How to Scale Your Model") and the PaLM paper.

`[derived]` marks arithmetic on stated numbers; `[uncertain]` a secondary or generic source kept as a
documented assumption. Units are SI: seconds, bytes, FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from pathsim.errors import ConfigError

GIB = 1024**3
GB = 1e9


@dataclass(frozen=True)
class Sourced:
    """A number and where it comes from."""

    value: float
    source: str


@dataclass(frozen=True)
class ChipSpec:
    name: str
    peak_bf16_flops_per_s: float
    hbm_bytes: float
    hbm_bytes_per_s: float
    ici_link_bytes_per_s: float  # one direction of one link
    torus_dims: int  # 3 for a 3D torus, 2 for a 2D torus
    ici_hop_latency_s: float
    chips_per_host: int
    dcn_bytes_per_s_per_host: float  # one direction, shared by the host's chips
    host_link_bytes_per_s: float  # one direction of one chip's PCIe link to its host's memory (host offload)
    mxu_tile: int  # matrix unit edge: matmul dims are padded to a multiple of it
    wraparound_multiple: int  # a torus axis wraps around only when its length is a multiple of this
    wraparound_min_chips: int  # slices with fewer chips have no wraparound at all
    max_slice_chips: int
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def ici_bidirectional_bytes_per_s(self) -> float:
        """W in the scaling book's collective formulas: both directions of one link."""
        return 2.0 * self.ici_link_bytes_per_s


_V4_SOURCES = {
    "peak_bf16_flops_per_s": "Cloud TPU v4 docs; the figure PaLM's MFU uses (PaLM paper, appendix B)",
    "hbm_bytes": "Cloud TPU v4 docs: 32 GiB per chip",
    "hbm_bytes_per_s": "Cloud TPU v4 docs: 1.2e12 B/s",
    "ici_link_bytes_per_s": "scaling book: 4.5e10 B/s one way per link, 6 links per chip",
    "ici_hop_latency_s": "scaling book: about 1 us per hop",
    "chips_per_host": "scaling book: 4 chips per host (2x2x1 tray)",
    "dcn_bytes_per_s_per_host": (
        "[derived] PaLM section 4: 81 Tbps aggregate burst over 1536 hosts = 6.6e9 B/s per host, the only "
        "published TPU v4 deployment measurement; the scaling book's generic 2.5e10 is [uncertain] and "
        "not v4-specific"
    ),
    "host_link_bytes_per_s": (
        "scaling book (TPUs chapter): PCIe 'typically around 1.6e10 bytes/second per TPU' each way; measured "
        "on v4: 14.9 GB/s + about 125 us per TC-initiated copy (tpu-v4-latency-numbers, section 6), not used"
    ),
    "mxu_tile": "ISCA 2023 TPU v4 paper: 4 MXUs of 128x128 per TensorCore",
    "wraparound_multiple": "Cloud docs / scaling book: wraparound on an axis only when a multiple of 4",
    "wraparound_min_chips": "scaling book: slices smaller than a 4x4x4 cube have no wraparound",
    "max_slice_chips": "ISCA 2023: a pod is 4096 chips, at most 16x16x16",
}

CHIPS: Mapping[str, ChipSpec] = MappingProxyType(
    {
        "tpu_v4": ChipSpec(
            name="tpu_v4",
            peak_bf16_flops_per_s=275e12,
            hbm_bytes=32 * GIB,
            hbm_bytes_per_s=1.2e12,
            ici_link_bytes_per_s=4.5e10,
            torus_dims=3,
            ici_hop_latency_s=1e-6,
            chips_per_host=4,
            dcn_bytes_per_s_per_host=81e12 / 8 / 1536,
            host_link_bytes_per_s=1.6e10,
            mxu_tile=128,
            wraparound_multiple=4,
            wraparound_min_chips=64,
            max_slice_chips=4096,
            sources=_V4_SOURCES,
        ),
        "tpu_v5e": ChipSpec(
            name="tpu_v5e",
            peak_bf16_flops_per_s=1.97e14,
            hbm_bytes=16 * GB,
            hbm_bytes_per_s=8.1e11,
            ici_link_bytes_per_s=4.5e10,
            torus_dims=2,
            ici_hop_latency_s=1e-6,
            chips_per_host=8,
            dcn_bytes_per_s_per_host=2 * 100e9 / 8,
            host_link_bytes_per_s=1.6e10,  # scaling book: PCIe about 1.6e10 B/s per TPU each way
            mxu_tile=128,
            wraparound_multiple=16,
            wraparound_min_chips=16,  # any axis of 16 wraps: 8x16 on that axis (MaxText's slice table)
            max_slice_chips=256,
            sources={
                "*": "Cloud TPU v5e docs (DCN: 2 x 100 Gbps NIC per host; wraparound "
                "only on axes of 16); PCIe host link 1.6e10 B/s per chip each way from the scaling book; hop latency and "
                "MXU edge [uncertain], as v4",
            },
        ),
        "tpu_v5p": ChipSpec(
            name="tpu_v5p",
            peak_bf16_flops_per_s=4.59e14,
            hbm_bytes=95 * GB,
            hbm_bytes_per_s=2.8e12,
            ici_link_bytes_per_s=9e10,
            torus_dims=3,
            ici_hop_latency_s=1e-6,
            chips_per_host=4,
            dcn_bytes_per_s_per_host=4 * 50e9 / 8,
            host_link_bytes_per_s=1.6e10,  # scaling book: PCIe about 1.6e10 B/s per TPU each way
            mxu_tile=128,
            wraparound_multiple=4,
            wraparound_min_chips=64,
            max_slice_chips=8960,
            sources={
                "*": "Cloud TPU v5p docs (ICI 9e10 one way; DCN 50 Gbps per chip "
                "x 4 chips per host [derived]); PCIe host link 1.6e10 B/s per chip each way from the scaling book; "
                "wraparound rule, hop latency and MXU edge [uncertain], as v4",
            },
        ),
        "tpu_v6e": ChipSpec(
            name="tpu_v6e",
            peak_bf16_flops_per_s=9.18e14,
            hbm_bytes=32 * GB,
            hbm_bytes_per_s=1.6e12,
            ici_link_bytes_per_s=9e10,
            torus_dims=2,
            ici_hop_latency_s=1e-6,
            chips_per_host=8,
            dcn_bytes_per_s_per_host=2.5e10,
            host_link_bytes_per_s=3.2e10,  # scaling book: PCIe 3.2e10 B/s per TPU v6e each way
            mxu_tile=128,
            wraparound_multiple=16,
            wraparound_min_chips=16,  # any axis of 16 wraps: 8x16 on that axis (MaxText's slice table)
            max_slice_chips=256,
            sources={
                "*": "Cloud TPU v6e docs; DCN is the scaling book's generic 2.5e10 "
                "per host [uncertain]; PCIe host link 3.2e10 B/s per chip each way from the scaling book (TPUs "
                "chapter: 'around 1.6e10 bytes/second per TPU (3.2e10 for TPU v6e)'); MXU edge, wraparound and hop "
                "latency [uncertain], as v5e",
            },
        ),
    }
)


# ISCA 2023 TPU v4 paper [uncertain]: all-to-all throughput of a twisted torus over the regular one,
# measured on 4x4x8 (n x n x 2n) and 4x8x8 (n x 2n x 2n); assumed for larger shapes of those proportions.
TWISTED_ALL_TO_ALL_GAIN = Sourced(1.63, "TPU v4 paper, ISCA 2023, 4x4x8 [uncertain]")
TWISTED_ALL_TO_ALL_GAIN_WIDE = Sourced(1.31, "TPU v4 paper, ISCA 2023, 4x8x8 [uncertain]")


def chip_spec(name: str, field_name: str = "chip") -> ChipSpec:
    """The catalog entry for `name`, or a ConfigError naming the field."""
    try:
        return CHIPS[name]
    except KeyError:
        raise ConfigError(field_name, f"unknown chip {name!r}; known: {', '.join(sorted(CHIPS))}") from None
