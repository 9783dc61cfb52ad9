"""Where plans are evaluated: in this process, in a local process pool, or on a Ray cluster. Each backend
maps a picklable function over items and yields results as they finish, in any order."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol

from pathsim.errors import ConfigError
from pathsim.processes import TERMINATING, interrupt_for, watch_parent

BACKENDS = ("local", "ray")


class Backend(Protocol):
    name: str

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]: ...

    def close(self, now: bool = False) -> None: ...  # now: stop running work (Ctrl-C), do not wait for it


class SerialBackend:
    name = "serial"

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self, now: bool = False) -> None:
        pass


def _worker_init(parent: int) -> None:
    """In each pool worker: Ctrl-C is the parent's to handle (the terminal sends it to every process of
    the group, and each worker would print a KeyboardInterrupt traceback), and a worker exits when the
    sweep's process ends, even by SIGKILL: workers are the forkserver's children, and it outlives the
    sweep, so they watch the sweep's process itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)


_POLL_S = 0.1  # how soon a deferred Ctrl-C is acted on


@contextmanager
def _deferred_interrupt() -> Iterator[threading.Event]:
    """Ctrl-C (or SIGTERM, SIGHUP) as a flag while the pool's futures are in use, raised as KeyboardInterrupt on the way out.

    Raised where the signal lands, KeyboardInterrupt can leave a future's lock held (inside `wait` or
    `cancel`); the pool's manager thread then blocks on that lock and shutting the pool down hangs."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield interrupted
        return
    received: list[int] = []

    def note(signum: int, _frame) -> None:
        received.append(signum)
        interrupted.set()

    # SIGTERM and SIGHUP too: unhandled they end the sweep with its pool's semaphores still open.
    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, *TERMINATING)}
    try:
        yield interrupted
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        raise interrupt_for(received[0])


class PoolBackend:
    """A process pool: simulations are pure Python, so processes, not threads, use the cores."""

    name = "local"

    def __init__(self, workers: int) -> None:
        # forkserver, not fork: a parent that has imported a multithreaded library (JAX, Ray) can
        # deadlock a forked child.
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"),
                                        initializer=_worker_init, initargs=(os.getpid(),))

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        with _deferred_interrupt() as interrupted:
            # Unfinished futures are dropped by close(), never cancelled here: the pool's manager thread
            # fails (InvalidStateError) when it marks a future we cancelled as broken after close(now=True)
            # kills the workers, and shutdown(cancel_futures=True) cancels them from that thread instead.
            pending = {self.pool.submit(fn, item) for item in items}
            while pending and not interrupted.is_set():
                done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            for future in [f for f in pending if f.done() and not f.cancelled()]:
                yield future.result()  # finished while the Ctrl-C was pending: kept

    def close(self, now: bool = False) -> None:
        if now:  # an interrupted sweep: its finished rows are on disk, the running plans are dropped
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """The same tasks as Ray remote calls, on a running cluster (`address`) or a local Ray instance."""

    name = "ray"

    def __init__(self, address: str | None, workers: int | None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--backend", "ray is not installed (pip install 'ray>=2.9')") from None
        self.ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False}
            if address is None and workers:
                kwargs["num_cpus"] = workers
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise ConfigError("--address", f"cannot reach the Ray cluster at {address!r}: {exc}") from None
        self._remote = ray.remote(_call)

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        pending = [self._remote.remote(fn, item) for item in items]
        try:
            while pending:
                done, pending = self.ray.wait(pending, num_returns=1)
                for ref in done:
                    yield self.ray.get(ref)
        finally:
            for ref in pending:
                self.ray.cancel(ref)

    def close(self, now: bool = False) -> None:
        if self._started:
            self.ray.shutdown()


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> Backend:
    if workers is not None and workers < 1:
        raise ConfigError("--workers", f"must be at least 1, got {workers} (leave it out for one per core)")
    if name == "ray":
        return RayBackend(address, workers)
    if name != "local":
        raise ConfigError("--backend", f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None:
        raise ConfigError("--address", "only the ray backend takes an address")
    n = workers or os.cpu_count() or 1
    return SerialBackend() if n == 1 else PoolBackend(n)
