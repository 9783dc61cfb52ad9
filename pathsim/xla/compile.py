"""Experiment --compile (XLA, ahead of time, no TPU)--> CompiledStep: the scheduled HLO of one chip and
the compiler's per-chip memory, cached on disk (pathsim.xla.cache). The compile runs in a child process
(spawned: it imports jax and libtpu; the parent, which only simulates, does not)."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
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


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:400] if lines else type(e).__name__


def _compile_child(conn, exp_json: str, topo_json: str, target: str) -> None:
    """In a child process: trace the step, compile it, send back (hlo text, memory) or an error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent answers Ctrl-C for both
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # no TPU metadata server to ask: compiling only
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # no chip is opened: concurrent compiles are safe
    try:
        import jax

        from pathsim.xla.mesh import build_mesh
        from pathsim.xla.step import build_step

        exp = ExperimentConfig.model_validate_json(exp_json)
        topo = TopologyConfig.model_validate_json(topo_json)
        mp = mesh_plan(exp, topo)
        spec = build_step(exp.model, exp.training, mp, build_mesh(mp))
        jitted = jax.jit(spec.fn, out_shardings=spec.out_shardings, donate_argnums=spec.donate_argnums)
        compiled = jitted.lower(*spec.args).compile()
        m = compiled.memory_analysis()
        memory = {"argument": m.argument_size_in_bytes, "output": m.output_size_in_bytes,
                  "alias": m.alias_size_in_bytes, "temp": m.temp_size_in_bytes,
                  "generated_code": m.generated_code_size_in_bytes}
        conn.send(("ok", compiled.as_text(), memory))
    except ConfigError as e:
        conn.send(("config", e.field, e.message))
    except Exception as e:  # the compiler's own message decides what the user is told
        message = _first_line(e)
        if any(marker in str(e) for marker in _OOM_MARKERS):
            conn.send(("config", "plan", f"infeasible: the compiled step does not fit in HBM; XLA: {message}"))
        else:
            conn.send(("config", "plan", f"XLA cannot compile this plan for {target}: {message}"))
    finally:
        conn.close()


def _run_compile(exp: ExperimentConfig, topo: TopologyConfig, target: str) -> tuple[str, dict]:
    """Compile in a child process: the native compile cannot be interrupted, the parent can. Ctrl-C ends
    both at once with exit code 130 and one line, no traceback."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_compile_child, args=(child, exp.model_dump_json(), topo.model_dump_json(), target),
                       daemon=True)
    proc.start()
    child.close()
    try:
        with _Progress(target):
            while not parent.poll(0.2):
                if not proc.is_alive():
                    raise ConfigError("plan", f"the XLA compile for {target} died (exit code {proc.exitcode})")
            reply = parent.recv()
    except KeyboardInterrupt:
        proc.kill()
        sys.stderr.write("\ninterrupted: XLA compile cancelled\n")
        sys.stderr.flush()
        raise SystemExit(130) from None
    finally:
        proc.join(timeout=5)
    if reply[0] == "config":
        raise ConfigError(reply[1], reply[2])
    return reply[1], reply[2]


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
    start = time.monotonic()
    text, memory = _run_compile(exp, topo, target)
    compile_s = time.monotonic() - start
    cache.store(key, text, {"memory_bytes": memory, "compile_s": compile_s, "target": target, **vers})
    return CompiledStep(hlo_text=text, mesh=mp.axes, target=target, memory_bytes=memory, compile_s=compile_s,
                        cache_hit=False, versions=vers)
