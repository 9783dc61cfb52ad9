"""The imported-program side of the closed loop: kernel timings, the by-name cost model, mesh groups."""

import pytest

from pathsim.calibration.cases import cases
from pathsim.calibration.imported import case_mesh, error_terms, predict_imported
from pathsim.calibration.kernel_cost import KernelCostModel
from pathsim.calibration.kernel_timings import (KernelTimings, KernelTimingsMeta, StepKernelTimings, from_json,
                                                hlo_fingerprint, load_kernel_timings, save_kernel_timings, to_json)
from pathsim.calibration.kernel_trace import KernelTime
from pathsim.costs.compute import AnalyticCostModel
from pathsim.errors import ConfigError
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import ComputeOp
from tests.support import REPO

from .conftest import make_profile

HLO = """HloModule jit_f, is_scheduled=true

FileNames
1 "/somewhere/caller.py"

%fused_a (p: f32[64,64]) -> f32[64,64] {
  %p = f32[64,64]{1,0} parameter(0)
  ROOT %t = f32[64,64]{1,0} tanh(%p), metadata={op_name="jit(f)/tanh" stack_frame_id=1}
}

%fused_b (q: f32[64,64]) -> f32[64,64] {
  %q = f32[64,64]{1,0} parameter(0)
  ROOT %e = f32[64,64]{1,0} exponential(%q), metadata={op_name="jit(f)/exp" stack_frame_id=2}
}

ENTRY %main (x: f32[64,64]) -> f32[64,64] {
  %x = f32[64,64]{1,0} parameter(0)
  %fusion.a = f32[64,64]{1,0} fusion(%x), kind=kLoop, calls=%fused_a, metadata={op_name="jit(f)/tanh" stack_frame_id=1}
  ROOT %fusion.b = f32[64,64]{1,0} fusion(%fusion.a), kind=kLoop, calls=%fused_b, metadata={op_name="jit(f)/exp" stack_frame_id=2}
}
"""


def step_timings(times: dict[str, float], hlo: str = HLO, case: str = "t1/1dev") -> StepKernelTimings:
    kernels = tuple(KernelTime(n, t, 1, t, t) for n, t in times.items())
    total = sum(times.values())
    return StepKernelTimings(case=case, devices=1, hlo_sha256=hlo_fingerprint(hlo), traced_step_s=total * 1.1,
                             span_s=total, kernel_sum_s=total, busy_s=total, executions=3, kernels=kernels)


def test_fingerprint_ignores_source_metadata_but_not_the_program():
    moved = HLO.replace("/somewhere/caller.py", "/elsewhere/other.py").replace("stack_frame_id=2", "stack_frame_id=7")
    assert hlo_fingerprint(moved) == hlo_fingerprint(HLO)
    assert hlo_fingerprint(HLO.replace("tanh(%p)", "negate(%p)")) != hlo_fingerprint(HLO)


def test_kernel_timings_round_trip_and_refuse_bad_files(tmp_path):
    meta = KernelTimingsMeta(backend="cpu", device_kind="cpu", device_count=1, jax_version="0", date="d",
                             warmup=1, repeats=3, host_load_1min=0.5)
    timings = KernelTimings(meta=meta, programs=(step_timings({"fusion.a": 1e-3, "fusion.b": 2e-3}),))
    path = tmp_path / "k.json"
    save_kernel_timings(timings, path)
    assert load_kernel_timings(path) == timings
    assert timings.program("t1/1dev").times_s() == {"fusion.a": 1e-3, "fusion.b": 2e-3}
    assert timings.program("absent") is None
    with pytest.raises(ConfigError, match="does not exist"):
        load_kernel_timings(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="format"):
        from_json('{"format": "other"}')
    with pytest.raises(ConfigError, match="negative time"):
        from_json(to_json(timings).replace("0.001", "-0.001"))


def test_the_committed_kernel_timings_still_load():
    for name in ("cpu-2core-kernels.json", "cpu-2core-2dev-kernels.json"):
        assert load_kernel_timings(REPO / "calibration" / name).programs


def test_cost_model_looks_each_op_up_by_hlo_name_and_falls_back_to_the_roofline(profile):
    from pathsim.calibration.device import measured_chip

    roofline = AnalyticCostModel(measured_chip(profile))
    cost = KernelCostModel({"fusion.7": 3e-4}, roofline, name="test")
    known = ComputeOp("fusion.7", "elementwise", "forward", flops=1e6, hbm_bytes=1e6)
    unknown = ComputeOp("copy.2", "elementwise", "forward", flops=0.0, hbm_bytes=1e6)
    assert cost.lookup(known).time_s == 3e-4 and cost.lookup(known).source == "measured"
    assert cost.lookup(unknown).source == "roofline"
    assert cost.op_time_s(unknown) == roofline.op_time_s(unknown)


def test_imported_program_runs_its_kernels_back_to_back_at_their_measured_times():
    profile = make_profile(device_count=1, call_overhead_s=2e-5)
    times = {"fusion.a": 1e-3, "fusion.b": 3e-3}
    case = cases("tiny", 1)[0]
    prediction, accounting = predict_imported(case, HLO, step_timings(times), profile)
    assert prediction.ops == 2 and prediction.unmeasured_ops == 0
    assert prediction.compute_s == pytest.approx(4e-3)
    assert prediction.step_s == pytest.approx(4e-3 + 2e-5)  # the kernels in order, after one call overhead
    assert accounting.kernel_total_s == pytest.approx(4e-3) and accounting.collective_s == 0.0

    partial = step_timings({"fusion.a": 1e-3})  # fusion.b unmeasured: costed by the roofline
    prediction, _ = predict_imported(case, HLO, partial, profile)
    assert prediction.unmeasured_ops == 1 and 0 < prediction.unmeasured_s < 1e-3

    skewed = step_timings(times)  # means twice the medians, shares half of them (kernels overlapped)
    skewed = StepKernelTimings(**{**skewed.__dict__, "kernels": tuple(
        KernelTime(k.name, k.time_s, 1, 2 * k.time_s, k.time_s / 2) for k in skewed.kernels)})
    by_share, _ = predict_imported(case, HLO, skewed, profile)
    by_mean, _ = predict_imported(case, HLO, skewed, profile, "mean")
    by_median, _ = predict_imported(case, HLO, skewed, profile, "median")
    assert by_share.compute_s == pytest.approx(2e-3)
    assert by_mean.compute_s == pytest.approx(8e-3) and by_median.compute_s == pytest.approx(4e-3)

    with pytest.raises(ConfigError, match="differs from the one whose kernels were timed"):
        predict_imported(case, HLO.replace("tanh(%p)", "negate(%p)"), step_timings(times), profile)


def test_case_mesh_names_the_plan_axes_in_jax_mesh_order():
    sharded = [c for c in cases("tiny", 4) if c.devices > 1][-1]  # data2 x tensor2
    mesh = case_mesh(sharded)
    data, tensor = MeshAxis("ici", "data"), MeshAxis("ici", "tensor")
    assert mesh.axes == ((data, 2), (tensor, 2))
    assert mesh.names == ("ici.data", "ici.tensor")  # the jax Mesh's axis names
    assert mesh.spanned([0, 1]) == [(tensor, 2)] and mesh.spanned([0, 2]) == [(data, 2)]
    assert case_mesh(cases("tiny", 1)[0]) is None



def test_error_terms_add_up_to_the_error_and_name_each_cause():
    profile = make_profile(device_count=1, call_overhead_s=2e-5)
    times = {"fusion.a": 1e-3, "fusion.b": 3e-3}
    kernels = StepKernelTimings(**{**step_timings(times).__dict__, "span_s": 3.5e-3, "kernel_sum_s": 4.2e-3,
                                   "busy_s": 3.3e-3, "traced_step_s": 3.8e-3})
    prediction, accounting = predict_imported(cases("tiny", 1)[0], HLO, kernels, profile)
    measured_s = 3.6e-3
    terms = error_terms(prediction, accounting, measured_s, profile.meta.call_overhead_s)
    assert terms.total_s() == pytest.approx(prediction.step_s - measured_s)
    assert terms.coverage_s == pytest.approx(0.0) and terms.collectives_s == pytest.approx(0.0)
    assert terms.statistic_s == pytest.approx(4e-3 - 3.3e-3)  # mean shares summed vs the median busy time
    assert terms.gaps_s == pytest.approx(3.3e-3 - 3.5e-3)  # 0.2 ms of the span ran no kernel
    assert terms.host_s == pytest.approx(2e-5 - 0.3e-3) and terms.drift_s == pytest.approx(0.2e-3)


def test_the_layer_loops_own_thunk_time_is_priced_as_measured():
    """XLA:CPU times a while loop's own work (condition, carried buffers) as a thunk beside its body's
    kernels; the imported program prices it once per call, so it is no longer a kernel the import misses."""
    profile = make_profile(device_count=1, call_overhead_s=2e-5)
    times = {"fusion.a": 1e-3, "fusion.b": 3e-3, "while.3": 5e-4}
    prediction, accounting = predict_imported(cases("tiny", 1)[0], HLO, step_timings(times), profile)
    assert prediction.ops == 3 and prediction.unmeasured_ops == 0
    assert prediction.compute_s == pytest.approx(4.5e-3) and prediction.step_s == pytest.approx(4.5e-3 + 2e-5)
    terms = error_terms(prediction, accounting, 4.5e-3, profile.meta.call_overhead_s)
    assert terms.coverage_s == pytest.approx(0.0)
