"""Model, training, plan --compile (XLA, ahead of time, no TPU)--> CompiledStep: the scheduled HLO of one chip and
the compiler's per-chip memory, cached on disk (pathsim.workload.xla.cache). The compile runs in a child
interpreter (`python -m pathsim.workload.xla.compile REQUEST`: it imports jax and libtpu; the caller, which only
simulates, does not)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pathsim.catalog.xla_flags import LIBTPU_DEFAULTS, CompileFlags
from pathsim.config.experiment import ModelConfig, PlanConfig, TopologyConfig, TrainingConfig
from pathsim.errors import ConfigError
from pathsim.processes import Terminated, signal_on_parent_death, terminate_cleanly, watch_parent
from pathsim.workload.xla import cache
from pathsim.workload.xla.compiler_log import hbm_requirement
from pathsim.workload.xla.hlo_import import MeshAxes
from pathsim.workload.xla.mesh import mesh_plan
from pathsim.workload.xla.status import compile_status

TPU_EXTRA = 'program: xla needs JAX with libtpu and optax: pip install -e ".[tpu]"'
_PARENT_ENV = "PATHSIM_COMPILE_PARENT"  # the pid the compile child lives and dies with
_INFO_LINE = re.compile(r"I\d{4} ")  # libtpu's INFO lines (glog), which the child asks for: not the error
_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "Ran out of memory", "out of memory", "exceeds the memory")


@dataclass(frozen=True)
class CompiledStep:
    hlo_text: str
    mesh: MeshAxes
    target: str  # e.g. "v4:12x16x16 x 2 slices"
    # per chip, from compiled.memory_analysis(): argument, output, alias, temp, generated_code (HBM), and
    # host_temp: host memory the step's offloaded tensors use (not in temp); from the compiler's log:
    # temp_fragmentation, which memory_analysis's temp counts twice (compiler_log.py; absent when the log
    # did not state it)
    memory_bytes: dict
    compile_s: float  # wall time of the compile (of the run that filled the cache, on a hit)
    cache_hit: bool
    versions: dict  # jax, libtpu
    flags: CompileFlags = LIBTPU_DEFAULTS  # the XLA/libtpu flags it was compiled with

    @property
    def temp_bytes(self) -> float:
        """The temporaries' heap as the compiler sizes it for the program (fragmentation counted once)."""
        return self.memory_bytes["temp"] - self.memory_bytes.get("temp_fragmentation", 0.0)

    @property
    def per_chip_bytes(self) -> float:
        """What one chip holds at the peak: arguments + outputs (less donated aliases) + temporaries + code."""
        m = self.memory_bytes
        return m["argument"] + m["output"] - m["alias"] + self.temp_bytes + m["generated_code"]


def versions() -> dict:
    if importlib.util.find_spec("libtpu") is None or importlib.util.find_spec("jax") is None \
            or importlib.util.find_spec("optax") is None:
        raise ConfigError("program", TPU_EXTRA)
    import importlib.metadata as md

    return {"jax": md.version("jax"), "libtpu": md.version("libtpu")}


def _key_parts(model: ModelConfig, training: TrainingConfig, plan: PlanConfig, chip: str, target: str,
               vers: dict, flags: tuple[str, ...] = ()) -> dict:
    plan_d = plan.model_dump()
    plan_d.pop("placement", None)  # where pathsim places axes on the torus, not what XLA compiles
    training_d = training.model_dump()
    if training_d.get("remat_custom") is None:
        training_d.pop("remat_custom", None)  # absent unless set: keys of programs compiled before it stay valid
    parts = {"model": model.model_dump(), "training": training_d, "plan": plan_d, "chip": chip, "target": target,
             **vers}
    if plan.microbatches > 1:  # steps compiled before gradient accumulation ran the whole batch at once
        parts["accumulates_gradients"] = True
    if model.attention == "flash":  # programs compiled before the step called the flash kernel ran dot attention
        parts["attention_kernel"] = "splash"
    parts["loss"] = "maxtext_cross_entropy"  # programs compiled before it took log_softmax of the logits
    if training.param_bytes != training.activation_bytes:  # weights of another dtype: cast before the matmuls
        parts["weights"] = "cast_to_activation_dtype"  # (a no-op otherwise: those programs' keys stay valid)
    if flags:  # absent for libtpu's defaults: keys of programs compiled before flags were part of them stay valid
        parts["xla_flags"] = list(flags)
    return parts


class _Progress:
    """Elapsed compile time: told to the caller's status line (compile_status) when there is one, else
    drawn on stderr when it is a terminal."""

    def __init__(self, label: str) -> None:
        self.label, self.stop = label, threading.Event()
        self.status = compile_status.get()
        own_line = self.status is None and sys.stderr.isatty()
        self.thread = threading.Thread(target=self._run, daemon=True) if own_line else None

    def _run(self) -> None:
        start = time.monotonic()
        while not self.stop.wait(1.0):
            sys.stderr.write(f"\rcompiling for {self.label}: {time.monotonic() - start:.0f} s")
            sys.stderr.flush()

    def __enter__(self):
        if self.status is not None:
            self.status(f"compiling for {self.label} (XLA)")
        if self.thread:
            self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        if self.status is not None:
            self.status(None)
        if self.thread:
            self.thread.join()
            sys.stderr.write("\r\033[K")


class CompilerRefusal(ConfigError):
    """The compiler's own answer that a step cannot be compiled (out of HBM, a case XLA does not implement):
    the same inputs and versions get the same answer, so it is cached like a program."""


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:400] if lines else type(e).__name__


def _compile_child(request: Path) -> None:
    """`python -m pathsim.workload.xla.compile REQUEST`: trace the step, compile it, write the HLO text and a
    reply (memory, or a ConfigError's field and message) beside the request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent answers Ctrl-C for both
    # The parent removes the folder unless it died first (even by SIGKILL): then this process does, and ends.
    cleanup = lambda: shutil.rmtree(request.parent, ignore_errors=True)  # noqa: E731
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), os._exit(1)))  # the parent-death signal
    watch_parent(int(os.environ[_PARENT_ENV]), cleanup)
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # no TPU metadata server to ask: compiling only
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # no chip is opened: concurrent compiles are safe
    job = json.loads(request.read_text())
    target = job["target"]
    try:
        from pathsim.workload.xla.mesh import build_mesh
        from pathsim.workload.xla.step import build_step

        model = ModelConfig.model_validate_json(job["model"])
        training = TrainingConfig.model_validate_json(job["training"])
        plan = PlanConfig.model_validate_json(job["plan"])
        mp = mesh_plan(plan, TopologyConfig.model_validate_json(job["topology"]))
        spec = build_step(model, training, mp, build_mesh(mp))
        compiled = spec.jit().lower(*spec.args).compile()
        m = compiled.memory_analysis()
        memory = {"argument": m.argument_size_in_bytes, "output": m.output_size_in_bytes,
                  "alias": m.alias_size_in_bytes, "temp": m.temp_size_in_bytes,
                  "generated_code": m.generated_code_size_in_bytes, "host_temp": m.host_temp_size_in_bytes}
        (request.parent / "hlo.txt").write_text(compiled.as_text())
        reply = {"memory": memory}
    except ConfigError as e:
        reply = {"field": e.field, "message": e.message}
    except Exception as e:  # the compiler's own message decides what the user is told
        message = _first_line(e)
        if any(marker in str(e) for marker in _OOM_MARKERS):
            reply = {"field": "plan", "message": f"infeasible: the compiled step does not fit in HBM; XLA: {message}"}
        else:
            reply = {"field": "plan", "message": f"XLA cannot compile this plan for {target}: {message}"}
        reply["compiler"] = True  # the compiler's answer, not pathsim's own check
    (request.parent / "reply.json").write_text(json.dumps(reply))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is the compile and its children
    except ProcessLookupError:
        pass
    proc.wait()


def _run_compile(model: ModelConfig, training: TrainingConfig, plan: PlanConfig, topo: TopologyConfig,
                 target: str, flags: tuple[str, ...] = ()) -> tuple[str, dict]:
    """Compile in a fresh interpreter (in its own session, so a terminal's Ctrl-C reaches only this
    process): the native compile cannot be interrupted, this process can. Ctrl-C kills the compile and ends
    with exit code 130 and one line, no traceback."""
    with tempfile.TemporaryDirectory(prefix="pathsim-xla-") as tmp, terminate_cleanly():
        request = Path(tmp) / "request.json"
        request.write_text(json.dumps({"model": model.model_dump_json(), "training": training.model_dump_json(),
                                       "plan": plan.model_dump_json(), "topology": topo.model_dump_json(),
                                       "target": target}))
        log = Path(tmp) / "compile.log"  # libtpu's warnings go here, not to the user's terminal
        proc = None
        try:  # from the spawn on: a signal in between must not leave the compile running or the message unsaid
            with log.open("wb") as sink:
                proc = subprocess.Popen([sys.executable, "-m", "pathsim.workload.xla.compile", str(request)],
                                        stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                        start_new_session=True,
                                        # the experiment's flags, never the caller's environment's: they are
                                        # part of the cache key and of the report
                                        env={**os.environ, _PARENT_ENV: str(os.getpid()),
                                             "LIBTPU_INIT_ARGS": " ".join(flags),
                                             # INFO: the log then states the program's HBM requirement
                                             "TPU_STDERR_LOG_LEVEL": "0", "TPU_MIN_LOG_LEVEL": "0"},
                                        preexec_fn=signal_on_parent_death)
            with _Progress(target):
                while proc.poll() is None:
                    time.sleep(0.2)
        except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP: the compile's process group goes too
            if proc is not None:  # else a child started in the spawn ends with this process (parent-death signal)
                _kill_group(proc)
            word = "terminated" if isinstance(stop, Terminated) else "interrupted"
            sys.stderr.write(f"\n{word}: XLA compile cancelled\n")
            sys.stderr.flush()
            raise SystemExit(stop.exit_code if isinstance(stop, Terminated) else 130) from None
        stderr = log.read_text(errors="replace")
        reply_path = Path(tmp) / "reply.json"
        if not reply_path.exists():  # died without a reply (killed, out of host memory, a flag libtpu refused)
            said = [ln for ln in stderr.splitlines() if ln.strip() and not _INFO_LINE.match(ln)]
            last = said[-1:] or [f"exit code {proc.returncode}"]
            field = "xla_flags" if "command line flag" in stderr else "plan"
            raise ConfigError(field, f"the XLA compile for {target} failed: {last[0][:300]}")
        reply = json.loads(reply_path.read_text())
        if "field" in reply:
            raise (CompilerRefusal if reply.get("compiler") else ConfigError)(reply["field"], reply["message"])
        memory = reply["memory"]
        requirement = hbm_requirement(stderr)
        if requirement is not None:
            memory["temp_fragmentation"] = requirement.temp_fragmentation_bytes
        return (Path(tmp) / "hlo.txt").read_text(), memory


def compile_step(model: ModelConfig, training: TrainingConfig, plan: PlanConfig, topo: TopologyConfig,
                 flags: CompileFlags = LIBTPU_DEFAULTS) -> CompiledStep:
    mp = mesh_plan(plan, topo)  # bad plans are refused with or without the tpu extra
    vers = versions()
    target = f"{mp.target.name} x {mp.target.num_slices} slice{'s' if mp.target.num_slices > 1 else ''}"
    key = cache.cache_key(_key_parts(model, training, plan, topo.chip, target, vers, flags.flags))
    hit = cache.load(key)
    if hit is not None:
        text, meta = hit
        if "refusal" in meta:
            raise CompilerRefusal(meta["refusal"]["field"], meta["refusal"]["message"])
        return CompiledStep(hlo_text=text, mesh=mp.axes, target=target, memory_bytes=meta["memory_bytes"],
                            compile_s=meta["compile_s"], cache_hit=True, versions=vers, flags=flags)
    start = time.monotonic()
    try:
        text, memory = _run_compile(model, training, plan, topo, target, flags.flags)
    except CompilerRefusal as refusal:
        cache.store(key, "", {"refusal": {"field": refusal.field, "message": refusal.message},
                              "compile_s": time.monotonic() - start, "target": target, **vers})
        raise
    compile_s = time.monotonic() - start
    cache.store(key, text, {"memory_bytes": memory, "compile_s": compile_s, "target": target,
                            "xla_flags": list(flags.flags), **vers})
    return CompiledStep(hlo_text=text, mesh=mp.axes, target=target, memory_bytes=memory, compile_s=compile_s,
                        cache_hit=False, versions=vers, flags=flags)


if __name__ == "__main__":
    _compile_child(Path(sys.argv[1]))
