"""The TPU kernel model against measured jnp.dot rows worked out by hand, its padding and floor, its
collectives, and the default it is for every TPU chip."""

import math

import pandas as pd
import pytest

from pathsim.api import cost_model_for
from pathsim.catalog import kernels as K
from pathsim.catalog.hardware import CHIPS, chip_spec
from pathsim.config.experiment import parse_experiment, parse_topology
from pathsim.costs.collectives import SPEC_SHEET_LINKS, closed_form_time_s
from pathsim.costs.compute import AnalyticCostModel
from pathsim.costs.tpu_kernels import TpuKernelCostModel
from pathsim.costs.tpu_kernels.reference_data import load_timings
from pathsim.placement.mesh_axes import AxisPlacement, AxisSegment
from pathsim.platform.topology import build_cluster
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import ComputeOp, MatmulShape
from tests.support import small_experiment

V5E_PEAK, V5E_BW, V5E_FLOOR = 197e12, 820e9, 105.56e-6


def _measured(m: int, n: int, k: int) -> float:
    rows = load_timings().of("v5e")
    hit = rows[(rows.M == m) & (rows.N == n) & (rows.K == k) & (rows.dtype == "bf16")]
    return float(hit.median_s.iloc[0])


def _by_hand(m: int, n: int, k: int) -> float:
    """The model's wall time of one bf16 -> f32 jnp.dot on v5e, written out step by step."""
    eff, hbm, p, block = K.MATMUL_EFFICIENCY.value, K.MATMUL_HBM_EFFICIENCY.value, K.OVERLAP_SHARPNESS.value, 2048
    up = lambda x, q: math.ceil(x / q) * q  # noqa: E731
    tc = 2 * m * n * up(k, 128) / (eff * V5E_PEAK)
    mp, np_ = up(m, 8), up(n, 128)
    a = mp * up(k, 128) * 2 * math.ceil(np_ / block)
    b = up(k, 8) * np_ * 2 * math.ceil(mp / block)
    tm = (a + b + mp * np_ * 4) / (hbm * V5E_BW)
    kernel = K.KERNEL_FLOOR_S.value + (tc**p + tm**p) ** (1 / p)
    return max(V5E_FLOOR, K.LAUNCH_OVERHEAD_S.value + kernel)


@pytest.mark.parametrize("m,n,k", [(8192, 8192, 8192), (4096, 4096, 4096), (1, 16384, 16384),
                                   (6272, 11312, 472), (11960, 6704, 136)])
def test_measured_rows_by_hand(m, n, k):
    """Compute-bound squares, a matvec, a ridge shape and a memory-bound one: model = hand = measured."""
    from pathsim.costs.tpu_kernels.fit import wall_s
    from pathsim.costs.tpu_kernels.model import CATALOG_MATMUL

    timings = load_timings()
    row = pd.DataFrame([{"M": m, "N": n, "K": k, "dtype": "bf16"}])
    model = float(wall_s(row, timings.chips["v5e"], CATALOG_MATMUL, K.LAUNCH_OVERHEAD_S.value)[0])
    assert model == pytest.approx(_by_hand(m, n, k), rel=1e-9)
    assert model == pytest.approx(_measured(m, n, k), rel=0.12)


def _matmul(m, k, n, batch=1, scale=1.0) -> ComputeOp:
    shape = MatmulShape(m=m, k=k, n=n, batch=batch)
    return ComputeOp(name="mm", kind="matmul", phase="forward", flops=scale * shape.flops,
                     hbm_bytes=scale * 2 * batch * (m * k + k * n + m * n), matmul=shape, scale=scale)


def _model(chip="tpu_v4") -> TpuKernelCostModel:
    return TpuKernelCostModel(chip_spec(chip), K.kernel_spec(chip))


def test_contraction_dim_is_padded_to_the_mxu_edge():
    v4, v6e = _model("tpu_v4"), _model("tpu_v6e")
    big = 16384
    # Compute-bound: one more contraction element costs a whole MXU tile of K, 128 on v4 and 256 on v6e.
    for model, edge in ((v4, 128), (v6e, 256)):
        one_more, tile_more = model.op_time_s(_matmul(big, 8193, big)), model.op_time_s(_matmul(big, 8192 + edge, big))
        assert one_more == pytest.approx(tile_more, rel=2e-3)
        assert one_more / model.op_time_s(_matmul(big, 8192, big)) > 1 + 0.8 * edge / 8192
    # M is not padded to the MXU (only to the sublane): one more row costs about nothing.
    assert v4.op_time_s(_matmul(8193, 8192, 8192)) / v4.op_time_s(_matmul(8192, 8192, 8192)) < 1.01


def test_large_matmuls_run_at_the_measured_share_of_peak():
    v4 = _model()
    op = _matmul(16384, 16384, 16384)
    assert op.flops / v4.op_time_s(op) == pytest.approx(K.MATMUL_EFFICIENCY.value * 275e12, rel=0.01)


def test_tiny_kernels_cost_the_floor_and_memory_bound_ops_the_measured_bandwidth():
    v4 = _model()
    assert v4.op_time_s(_matmul(8, 8, 8)) == pytest.approx(K.KERNEL_FLOOR_S.value, rel=0.01)
    nbytes = 1e9
    gather = ComputeOp(name="g", kind="gather", phase="forward", flops=1e6, hbm_bytes=nbytes)
    rate = K.KERNELS["tpu_v4"].stream_hbm_efficiency.value * 1.2e12
    assert v4.op_time_s(gather) == pytest.approx(K.KERNEL_FLOOR_S.value + nbytes / rate)
    assert rate == pytest.approx((1.00e12 + 1.07e12) / 2)  # the measured v4 DMA read and write rates
    v5e = TpuKernelCostModel(chip_spec("tpu_v5e"), K.kernel_spec("tpu_v5e"))  # no per-kind figures: one rate
    norm = ComputeOp(name="n", kind="norm", phase="forward", flops=1e6, hbm_bytes=nbytes)
    assert v5e.op_time_s(norm) == pytest.approx(
        K.KERNEL_FLOOR_S.value + nbytes / (K.KERNELS["tpu_v5e"].stream_hbm_efficiency.value * 8.1e11))


def test_partial_remat_runs_a_share_of_the_kernel():
    v4 = _model()
    assert v4.op_time_s(_matmul(4096, 4096, 4096, scale=0.75)) == pytest.approx(
        0.75 * v4.op_time_s(_matmul(4096, 4096, 4096)))


def test_collectives_pay_measured_fixed_costs_and_link_share():
    chip = chip_spec("tpu_v4")
    links = _model().links
    ring = AxisPlacement(axis=MeshAxis("ici", "fsdp"), size=16, segments=(AxisSegment(dim="y", size=16, stride=1, ring=True),))
    # Tiny: fixed launch + 8 ring steps (16 / 2 each way) of one 1-hop remote DMA each.
    tiny = closed_form_time_s("all_gather", 1024.0, ring, chip, links)
    assert tiny == pytest.approx(4.55e-6 + 8 * 1.85e-6 + 1024 * 15 / 16 / (2 * 43.4e9))
    # Large: the payload at 43.4 GB/s per link one way instead of 45.
    v = 1e9
    big, spec = closed_form_time_s("all_gather", v, ring, chip, links), closed_form_time_s("all_gather", v, ring, chip)
    assert (big - links.collective_fixed_s - 8 * 1.85e-6) / spec == pytest.approx(45 / 43.4, rel=1e-6)
    assert SPEC_SHEET_LINKS.ici_payload_efficiency == 1.0


@pytest.mark.parametrize("chip", sorted(CHIPS))
def test_the_kernel_model_is_the_default_for_every_tpu_chip(chip, tmp_path):
    topo = parse_topology({"name": "t", "chip": chip, "islands": [{"shape": [4, 4, 4] if CHIPS[chip].torus_dims == 3
                                                                   else [4, 4]}]})
    exp = parse_experiment(small_experiment(**{"plan.ici": {"tensor": 4, "fsdp": 4}}))
    cost = cost_model_for(exp, build_cluster(topo), tmp_path)
    assert isinstance(cost, TpuKernelCostModel) and cost.kernels.chip == chip
    roof = cost_model_for(exp.model_copy(update={"cost_model": "roofline"}), build_cluster(topo), tmp_path)
    assert isinstance(roof, AnalyticCostModel)


def test_a_fused_attention_kernel_runs_its_blocks_at_the_matmul_share_and_streams_its_bytes_once():
    v5e = _model("tpu_v5e")
    block = MatmulShape(m=512, k=256, n=512, batch=2 * 10 * 64)  # 10 causal block pairs of 64 heads, forward
    compute_bound = ComputeOp("flash", "flash_attention", "forward", flops=block.flops, hbm_bytes=1e6, matmul=block)
    assert block.flops / v5e.op_time_s(compute_bound) == pytest.approx(K.MATMUL_EFFICIENCY.value * V5E_PEAK, rel=0.01)
    # A head dim of 64 fills half of the MXU edge: the same FLOPs take twice as long.
    narrow = MatmulShape(m=512, k=64, n=512, batch=4 * block.batch)
    half = ComputeOp("flash", "flash_attention", "forward", flops=narrow.flops, hbm_bytes=1e6, matmul=narrow)
    assert v5e.op_time_s(half) == pytest.approx(2 * v5e.op_time_s(compute_bound), rel=0.01)
    tiny = MatmulShape(m=512, k=256, n=512, batch=1)
    memory_bound = ComputeOp("flash", "flash_attention", "forward", flops=tiny.flops, hbm_bytes=8.1e9, matmul=tiny)
    assert v5e.op_time_s(memory_bound) == pytest.approx(8.1e9 / (K.MATMUL_HBM_EFFICIENCY.value * 8.1e11), rel=0.01)
