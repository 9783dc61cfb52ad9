"""Where plans are evaluated: in this process, in a local process pool, or on a Ray cluster. Each backend
maps a picklable function over items and yields results as they finish, in any order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

from pathsim.errors import ConfigError

BACKENDS = ("local", "ray")


class Backend(Protocol):
    name: str

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class SerialBackend:
    name = "serial"

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass


class PoolBackend:
    """A process pool: simulations are pure Python, so processes, not threads, use the cores."""

    name = "local"

    def __init__(self, workers: int) -> None:
        # forkserver, not fork: a parent that has imported a multithreaded library (JAX, Ray) can
        # deadlock a forked child.
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))

    def map_unordered(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        pending = {self.pool.submit(fn, item) for item in items}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
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

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> Backend:
    if name == "ray":
        return RayBackend(address, workers)
    if name != "local":
        raise ConfigError("--backend", f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None:
        raise ConfigError("--address", "only the ray backend takes an address")
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise ConfigError("--workers", f"must be at least 1, got {n}")
    return SerialBackend() if n == 1 else PoolBackend(n)
