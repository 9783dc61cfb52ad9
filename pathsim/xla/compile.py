"""Experiment --compile (XLA, ahead of time, no TPU)--> CompiledStep: the scheduled HLO of one chip and
the compiler's per-chip memory, cached on disk (pathsim.xla.cache)."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from dataclasses import dataclass

from pathsim.errors import ConfigError
from pathsim.experiment import ExperimentConfig, TopologyConfig
from pathsim.xla import cache
from pathsim.xla.hlo_import import MeshAxes
from pathsim.xla.mesh import mesh_plan

TPU_EXTRA = 'program: xla needs JAX with libtpu and optax: pip install -e ".[tpu]"'
_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "Ran out of memory", "out of memory", "exceeds the memory")


@dataclass(frozen=True)
class CompiledStep:
    hlo_text: str
    mesh: MeshAxes
    target: str  # e.g. "v4:12x16x16 x 2 slices"
    memory_bytes: dict  # per chip, from compiled.memory_analysis(): argument, output, alias, temp, code
    compile_s: float  # wall time of the compile (of the run that filled the cache, on a hit)
    cache_hit: bool
    versions: dict  # jax, libtpu

    @property
    def per_chip_bytes(self) -> float:
        """What one chip holds at the peak: arguments + outputs (less donated aliases) + temporaries + code."""
        m = self.memory_bytes
        return m["argument"] + m["output"] - m["alias"] + m["temp"] + m["generated_code"]


def versions() -> dict:
    if importlib.util.find_spec("libtpu") is None or importlib.util.find_spec("jax") is None \
            or importlib.util.find_spec("optax") is None:
        raise ConfigError("program", TPU_EXTRA)
    import importlib.metadata as md

    return {"jax": md.version("jax"), "libtpu": md.version("libtpu")}


def _key_parts(exp: ExperimentConfig, topo: TopologyConfig, target: str, vers: dict) -> dict:
    plan = exp.plan.model_dump()
    plan.pop("placement", None)  # where pathsim places axes on the torus, not what XLA compiles
    return {"model": exp.model.model_dump(), "training": exp.training.model_dump(), "plan": plan,
            "chip": topo.chip, "target": target, **vers}


class _Progress:
    """Elapsed compile time on stderr, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label, self.stop = label, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True) if sys.stderr.isatty() else None

    def _run(self) -> None:
        start = time.monotonic()
        while not self.stop.wait(1.0):
            sys.stderr.write(f"\rcompiling for {self.label}: {time.monotonic() - start:.0f} s")
            sys.stderr.flush()

    def __enter__(self):
        if self.thread:
            self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        if self.thread:
            self.thread.join()
            sys.stderr.write("\r\033[K")


def _compile_in_thread(fn):
    """Run the (uninterruptible, native) compile in a worker so Ctrl-C reaches the main thread; then end
    the process at once with 130, one line, no traceback."""
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted: XLA compile cancelled\n")
        sys.stderr.flush()
        os._exit(130)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:400] if lines else type(e).__name__


def compile_step(exp: ExperimentConfig, topo: TopologyConfig) -> CompiledStep:
    vers = versions()
    mp = mesh_plan(exp, topo)
    target = f"{mp.target.name} x {mp.target.num_slices} slice{'s' if mp.target.num_slices > 1 else ''}"
    key = cache.cache_key(_key_parts(exp, topo, target, vers))
    hit = cache.load(key)
    if hit is not None:
        text, meta = hit
        return CompiledStep(hlo_text=text, mesh=mp.axes, target=target, memory_bytes=meta["memory_bytes"],
                            compile_s=meta["compile_s"], cache_hit=True, versions=vers)
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # no TPU metadata server to ask: compiling only
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # no chip is opened: concurrent compiles are safe
    import jax

    from pathsim.xla.mesh import build_mesh
    from pathsim.xla.step import build_step

    mesh = build_mesh(mp)
    spec = build_step(exp.model, exp.training, mp, mesh)
    start = time.monotonic()

    def run():
        jitted = jax.jit(spec.fn, out_shardings=spec.out_shardings, donate_argnums=spec.donate_argnums)
        return jitted.lower(*spec.args).compile()

    try:
        with _Progress(target):
            compiled = _compile_in_thread(run)
    except ConfigError:
        raise
    except Exception as e:
        message = _first_line(e)
        if any(m in str(e) for m in _OOM_MARKERS):
            raise ConfigError("plan", f"infeasible: the compiled step does not fit in HBM; XLA: {message}") from None
        raise ConfigError("plan", f"XLA cannot compile this plan for {target}: {message}") from None
    compile_s = time.monotonic() - start
    m = compiled.memory_analysis()
    memory = {"argument": m.argument_size_in_bytes, "output": m.output_size_in_bytes,
              "alias": m.alias_size_in_bytes, "temp": m.temp_size_in_bytes,
              "generated_code": m.generated_code_size_in_bytes}
    text = compiled.as_text()
    cache.store(key, text, {"memory_bytes": memory, "compile_s": compile_s, "target": target, **vers})
    return CompiledStep(hlo_text=text, mesh=mp.axes, target=target, memory_bytes=memory, compile_s=compile_s,
                        cache_hit=False, versions=vers)
