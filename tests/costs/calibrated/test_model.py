import math

import pytest

from pathsim.calibration import load_cost_model, save_cost_profile
from pathsim.costs.calibrated.model import CalibratedCostModel
from pathsim.costs.calibrated.interpolate import BytesTable, ShapeTable
from pathsim.catalog.hardware import CHIPS
from pathsim.costs.compute import AnalyticCostModel
from pathsim.workload.program import ComputeOp, MatmulShape

CHIP = CHIPS["tpu_v4"]


def matmul_op(m, k, n, batch=1, element_bytes=4, scale=1.0, kind="matmul"):
    shape = MatmulShape(m, k, n, batch)
    nbytes = element_bytes * batch * (m * k + k * n + m * n)
    return ComputeOp("op", kind, "forward", flops=shape.flops * scale, hbm_bytes=nbytes * scale, matmul=shape,
                     scale=scale)


def norm_op(nbytes, scale=1.0):
    return ComputeOp("norm", "norm", "forward", flops=0.0, hbm_bytes=nbytes * scale, scale=scale)


@pytest.fixture
def model(profile):
    return CalibratedCostModel(profile, CHIP, name="test")


def test_measured_shape_returns_its_measurement(model):
    got = model.lookup(matmul_op(256, 256, 256))
    assert got.source == "measured" and got.time_s == pytest.approx(1e-4)


def test_scale_takes_that_share_of_the_measured_kernel(model):
    assert model.op_time_s(matmul_op(64, 64, 64, scale=0.75)) == pytest.approx(0.75e-5)


def test_interpolation_between_two_shapes_by_hand(model):
    # (128,128,128) lies halfway between the two f32 points in log2 space: equal inverse-distance weights,
    # so its seconds per FLOP is the geometric mean of theirs.
    per_flop = math.sqrt((1e-5 / (2 * 64**3)) * (1e-4 / (2 * 256**3)))
    got = model.lookup(matmul_op(128, 128, 128))
    assert got.source == "measured"
    assert got.time_s == pytest.approx(2 * 128**3 * per_flop)
    assert 1e-5 < got.time_s < 1e-4


def test_beyond_the_measured_shapes_falls_back_to_the_roofline(model):
    op = matmul_op(1024, 256, 256)  # m above the measured range
    got = model.lookup(op)
    assert got.source == "roofline"
    assert got.time_s == AnalyticCostModel(CHIP).op_time_s(op)


def test_the_op_dtype_selects_the_table(model):
    assert model.op_time_s(matmul_op(64, 64, 64, element_bytes=2)) == pytest.approx(4e-5)


def test_an_unmeasured_dtype_falls_back(profile):
    f32_only = profile.__class__(profile.meta, profile.matmuls[:2], profile.memory_ops, profile.collectives)
    got = CalibratedCostModel(f32_only, CHIP, name="t").lookup(matmul_op(64, 64, 64, element_bytes=2))
    assert got.source == "roofline"


def test_attention_matmuls_use_the_matmul_table_when_not_measured_apart(model):
    assert model.op_time_s(matmul_op(64, 64, 64, kind="attention_matmul")) == pytest.approx(1e-5)


def test_memory_op_interpolates_log_log(model):
    # 1e4 bytes: halfway in log between (1e3, 1e-6) and (1e5, 1e-5), so time = sqrt(1e-6 * 1e-5).
    assert model.op_time_s(norm_op(1e4)) == pytest.approx(math.sqrt(1e-11))
    assert model.op_time_s(norm_op(1e5, scale=0.5)) == pytest.approx(0.5e-5)


def test_memory_op_beyond_range_or_unmeasured_kind_is_roofline(model):
    big = norm_op(1e9)
    assert model.lookup(big).source == "roofline"
    assert model.op_time_s(big) == pytest.approx(1e9 / CHIP.hbm_bytes_per_s)
    softmax = ComputeOp("sm", "softmax", "forward", flops=0.0, hbm_bytes=1e4)
    assert model.lookup(softmax).source == "roofline"


def test_slowdown_multiplies_every_time(profile):
    slow = CalibratedCostModel(profile, CHIP, name="t", slowdown=3.0)
    fast = CalibratedCostModel(profile, CHIP, name="t")
    for op in (matmul_op(64, 64, 64), matmul_op(4096, 64, 64), norm_op(1e4)):
        assert slow.op_time_s(op) == pytest.approx(3.0 * fast.op_time_s(op))


def test_load_cost_model_names_the_profile(tmp_path, profile):
    path = tmp_path / "mine.csv"
    save_cost_profile(profile, path)
    model = load_cost_model(path, CHIP)
    assert model.name == "calibrated profile mine.csv (testcpu)"
    assert model.op_time_s(matmul_op(64, 64, 64)) == pytest.approx(1e-5)


def test_bytes_table_averages_repeated_sizes():
    table = BytesTable.build([10.0, 10.0, 100.0], [1.0, 4.0, 8.0])
    assert table.time_s(10.0) == pytest.approx(2.0)  # exp(mean(log 1, log 4))
    assert not table.covers(0.0) and not table.covers(1000.0)


def test_shape_table_covers_is_the_bounding_box():
    table = ShapeTable.build([(64, 64, 64, 1), (256, 256, 256, 4)], [1e-5, 1e-3])
    assert table.covers((64, 256, 100, 2))
    assert not table.covers((32, 64, 64, 1))
