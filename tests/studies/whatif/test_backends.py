"""The local process pool under Ctrl-C: stopped at a safe point, finished results kept."""

from __future__ import annotations

import os
import signal
import time
import traceback

import pytest

from pathsim.studies.whatif.backends import PoolBackend


def test_ctrl_c_in_a_pool_map_is_raised_outside_the_pools_locks():
    backend = PoolBackend(2)
    before = signal.getsignal(signal.SIGINT)
    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for result in backend.map_unordered(time.sleep, [0.02] * 200):
            got.append(result)
            if len(got) == 2:
                os.kill(os.getpid(), signal.SIGINT)  # lands while the caller holds a result
    backend.close(now=True)
    where = traceback.extract_tb(raised.value.__traceback__)[-1].name
    assert where == "_deferred_interrupt"  # not inside concurrent.futures, where a lock may be held
    assert 2 <= len(got) < 200
    assert signal.getsignal(signal.SIGINT) is before


def test_a_pool_map_without_interrupt_returns_every_result():
    backend = PoolBackend(2)
    try:
        assert sorted(backend.map_unordered(abs, [-3, -1, 2])) == [1, 2, 3]
    finally:
        backend.close()
