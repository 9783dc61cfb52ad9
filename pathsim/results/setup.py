"""What a run assumed, for the report and the JSON: the chip's figures (after the topology's what-if
overrides) and where each mesh axis was placed on the torus."""

from __future__ import annotations

from typing import Any

from pathsim.catalog.hardware import GIB, ChipSpec
from pathsim.placement.mesh_axes import AxisPlacement, Placement

CHIP_FIGURES = ("peak_bf16_flops_per_s", "hbm_bytes", "hbm_bytes_per_s", "ici_link_bytes_per_s",
                "ici_hop_latency_s", "dcn_bytes_per_s_per_host", "chips_per_host")


def chip_dict(chip: ChipSpec) -> dict[str, Any]:
    return {"name": chip.name, **{name: getattr(chip, name) for name in CHIP_FIGURES}}


def chip_text(chip: ChipSpec) -> str:
    return (f"chip {chip.name}: {chip.peak_bf16_flops_per_s / 1e12:.4g} TFLOP/s bf16, "
            f"{chip.hbm_bytes / GIB:.4g} GiB HBM at {chip.hbm_bytes_per_s / 1e9:.4g} GB/s, "
            f"ICI {chip.ici_link_bytes_per_s / 1e9:.4g} GB/s per link one way, "
            f"DCN {chip.dcn_bytes_per_s_per_host / 1e9:.4g} GB/s per host of {chip.chips_per_host} chips")


def _segments(axis: AxisPlacement) -> str:
    if not axis.segments:
        return "DCN"
    return " x ".join(f"{seg.dim}:{seg.size}" + (f" (stride {seg.stride})" if seg.stride > 1 else "")
                      + ("" if seg.ring else " line") for seg in axis.segments)


def placement_dict(placement: Placement) -> dict[str, Any]:
    """Mesh axis -> its torus segments (dim, size, stride, ring), or "dcn" across islands."""
    return {str(a.axis): [{"dim": seg.dim, "size": seg.size, "stride": seg.stride, "ring": seg.ring}
                          for seg in a.segments] if a.segments else "dcn"
            for a in placement.axes if a.size > 1}


def placement_text(placement: Placement) -> str:
    placed = [f"{a.axis} on {_segments(a)}" for a in placement.axes if a.size > 1]
    return "placement: " + ("; ".join(placed) if placed else "one chip")
