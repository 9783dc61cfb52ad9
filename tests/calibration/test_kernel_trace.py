"""Kernel attribution: synthetic thunk events, then a real compiled program traced by the JAX profiler."""

import re

import pytest

from pathsim.calibration.kernel_trace import ThunkEvent, attribute


def ev(name, device, run, start_us, dur_us):
    return ThunkEvent(name, device, run, int(start_us * 1e3), int(dur_us * 1e3))


def test_medians_per_name_over_executions_with_calls_and_order():
    events = [
        # run 1 on device 0: a, then b twice (a loop), then c; c overlaps b's second call by 1 us
        ev("a", 0, 1, 0, 10), ev("b", 0, 1, 10, 2), ev("b", 0, 1, 12, 4), ev("c", 0, 1, 15, 5),
        # run 2 on device 0 and on device 1: slower a
        ev("a", 0, 2, 100, 30), ev("b", 0, 2, 130, 3), ev("b", 0, 2, 133, 3), ev("c", 0, 2, 136, 5),
        ev("a", 1, 2, 100, 20), ev("b", 1, 2, 120, 3), ev("b", 1, 2, 123, 3), ev("c", 1, 2, 126, 6),
    ]
    trace = attribute(events)
    assert [k.name for k in trace.kernels] == ["a", "b", "c"]
    times = trace.times_s()
    assert times["a"] == pytest.approx(20e-6)  # median of 10, 30, 20
    assert times["b"] == pytest.approx(3e-6)  # per call: (2+4)/2, (3+3)/2, (3+3)/2
    means = {k.name: k.mean_s for k in trace.kernels}
    assert means["a"] == pytest.approx(20e-6) and means["c"] == pytest.approx(16e-6 / 3)
    assert {k.name: k.calls for k in trace.kernels} == {"a": 1, "b": 2, "c": 1}
    assert trace.executions == 3
    assert trace.span_s == pytest.approx(32e-6)  # spans 20, 41, 32
    assert trace.kernel_sum_s == pytest.approx(32e-6)  # sums 21, 41, 32


def test_no_events_is_an_error():
    with pytest.raises(ValueError, match="no thunk events"):
        attribute([])


def _entry_kernels(hlo_text: str) -> list[str]:
    """The instructions of the ENTRY computation that run as kernels, in schedule order."""
    entry = hlo_text[hlo_text.index("ENTRY"):]
    return re.findall(r"^\s+(?:ROOT )?%([\w.\-]+) = \S+ (?:fusion|dot|copy|custom-call)\(", entry, re.M)


def test_profiler_attributes_each_kernel_of_a_compiled_program_by_name():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from pathsim.calibration.xprof import hlo_module_name, trace_runs

    # Two matmuls with an elementwise fusion between and after: a data dependence fixes the order.
    fn = jax.jit(lambda x, y: jnp.tanh(x @ y) @ y + 1.0)
    x = y = jnp.ones((384, 384), jnp.float32)
    compiled = fn.lower(x, y).compile()
    hlo = compiled.as_text()
    expected = _entry_kernels(hlo)
    assert len(expected) >= 2

    traced = trace_runs(lambda: compiled(x, y), hlo_module_name(hlo), warmup=1, repeats=5)
    trace = attribute(traced.events)
    assert [k.name for k in trace.kernels] == expected  # every kernel, matched by name, in schedule order
    assert trace.executions == 5 and all(k.calls == 1 for k in trace.kernels)
    times = trace.times_s()
    dots = [n for n in expected if " dot(" in _instruction(hlo, n)]
    others = [n for n in expected if n not in dots]
    assert dots and others
    assert min(times[n] for n in dots) > max(times[n] for n in others)  # 113 MFLOP matmuls vs 147k elements
    assert trace.span_s <= traced.wall_s
    assert all(e.done_ns > 0 for e in traced.events)  # each thunk linked to its completion marker by flow id
    assert trace.busy_s <= trace.span_s * (1 + 1e-9)


def _instruction(hlo_text: str, name: str) -> str:
    """The body of the computation a fusion calls (or the instruction line itself)."""
    line = re.search(rf"%{re.escape(name)} = .*", hlo_text).group(0)
    called = re.search(r"calls=%([\w.\-]+)", line)
    if not called:
        return line
    return re.search(rf"%{re.escape(called.group(1))} \(.*?\n}}", hlo_text, re.S).group(0)


def test_shares_split_overlapping_time_and_add_up_to_the_busy_time():
    # a: 0-10, b: 4-8 (inside a), c: 12-14 after an idle gap; a second run with no overlap
    events = [ev("a", 0, 1, 0, 10), ev("b", 0, 1, 4, 4), ev("c", 0, 1, 12, 2),
              ev("a", 0, 2, 100, 10), ev("b", 0, 2, 110, 4), ev("c", 0, 2, 114, 2)]
    trace = attribute(events)
    shares = {k.name: k.share_s for k in trace.kernels}
    assert shares["a"] == pytest.approx((8e-6 + 10e-6) / 2)  # run 1: 6 us alone + 4 us shared with b
    assert shares["b"] == pytest.approx((2e-6 + 4e-6) / 2)
    assert shares["c"] == pytest.approx(2e-6)
    assert trace.busy_s == pytest.approx(14e-6)  # run 1: 12 us busy in a 14 us span; run 2: 16 of 16
    assert trace.span_s == pytest.approx(15e-6)
    assert trace.kernel_sum_s == pytest.approx(16e-6)  # durations sum to 16 us in both runs


def test_an_asynchronous_kernel_lives_until_its_completion_and_shares_that_time():
    # a's event ends at 2 us but its work completes at 10 us; b runs 3-6 us meanwhile, c after a is done
    events = [ThunkEvent("a", 0, 1, 0, 2_000, done_ns=10_000), ev("b", 0, 1, 3, 3), ev("c", 0, 1, 10, 2)]
    trace = attribute(events)
    shares = {k.name: k.share_s for k in trace.kernels}
    assert shares["a"] == pytest.approx(8.5e-6) and shares["b"] == pytest.approx(1.5e-6)
    assert trace.busy_s == pytest.approx(12e-6) == trace.span_s  # no idle time: a's work filled the gaps
    assert trace.kernel_sum_s == pytest.approx(7e-6)  # the events' own durations: 2 + 3 + 2
