"""Compiled HLO text --import--> Program: the kernels and collectives XLA scheduled, in its order.

`import_hlo(text, mesh)` is a pure function of the HLO text of ONE device's program (what
`jax.jit(f).lower(...).compile().as_text()` returns, TPU or CPU) and, for SPMD programs, of the mesh the
device ids live in. What becomes what:

- Kernels -> ComputeOp named by the HLO instruction ("fusion.12", "copy.3", "convolution.4"): fusions,
  convolutions, dots, copies, custom calls and any other unfused array op. FLOPs and HBM bytes come from
  the HLO shapes (slices of a stacked buffer read only the slice; dynamic-update-slice writes only the
  update); dots and convolutions (also inside fusions) give a MatmulShape. The TPU compiler's
  `estimated_cycles` / `clock_hz` goes to `compiler_estimate_s` (CPU HLO has none: None).
- Collectives (all-gather, reduce-scatter, all-reduce, all-to-all, collective-permute; sync, start/done,
  async-start wrappers, or fused inside a kCustom fusion) -> CommOps over the mesh axes their
  replica_groups span. A collective over several axes becomes a chain of one-axis collectives with the
  same total bytes (reduce-scatter inner to outer, all-gather back). Collectives across slices are
  host-transfer send/recv pairs for the DCN runtime (megascale) and become CommOps over the DCN axes.
  A collective-permute moves its
  payload P to a neighbour: an all-gather of V = P * N / (N - 1) on its axis makes each member receive P.
- `while` loops (layer scans, windowed einsums) are expanded by their trip counts: every iteration
  repeats the body's ops under the same instruction names (CommOp keys carry the iteration, so the
  groups of a multi-slice program still match their collectives).
- Order: the compiler's schedule. A compute op waits (beyond dataflow) for every collective whose
  `-done` (or synchronous collective) precedes it; a collective starts no earlier than the kernel
  scheduled before it.
- Async copies (copy-start/copy-done: prefetches between memory spaces) and async slices into or out of
  the core's on-chip memory (slice-start, dynamic-slice-start: S(3)) are DMAs beside compute: not priced.
  Continuation fusions of an async collective fusion are priced without the collective's buffers they
  hand on (those move over ICI, as the collective). Host offload (jax's save_and_offload_only_these_names) moves residuals with async
  dynamic-update-slice (into a buffer in host memory, layout space S(5)) and dynamic-slice (out of one):
  they become device_to_host / host_to_device copies over the chip's host link, which the matching
  `-done` waits for. Buffer allocations (custom-call AllocateBuffer) and scalar bookkeeping (loop counters) are not
  kernels.

Groups: one SPMD program for every chip; multi-slice programs get one identical GroupProgram per DCN
coordinate (the mesh's DCN axes), as the lowering builds them.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace

import numpy as np

from pathsim.mesh.axis import HOST_LINK, MeshAxis
from pathsim.workload.program import CommOp, ComputeOp, GroupProgram, MatmulShape, Op, Phase, Program, group_label
from pathsim.workload.xla.hlo_text import Computation, HloModule, Instruction, Shape, parse_module
from pathsim.workload.xla.splash import splash_kernel

__all__ = ["MeshAxes", "import_hlo", "replica_groups"]

COLLECTIVES = {
    "all-gather": "all_gather", "reduce-scatter": "reduce_scatter", "all-reduce": "all_reduce",
    "all-to-all": "all_to_all", "collective-permute": "permute", "ragged-all-to-all": "all_to_all",
}
# Async slices into or out of a buffer in host memory: host offload's copies (see the module notes).
HOST_COPIES = ("dynamic-update-slice-start", "dynamic-slice-start")
# Async slices between HBM and the core's on-chip memory (layout space S(3)): DMAs beside compute, like
# copy-start prefetches, not kernels (they carry no estimated_cycles); a host offload's are HOST_COPIES.
ASYNC_SLICES = ("slice-start", "dynamic-slice-start", "dynamic-update-slice-start")
MEGASCALE = {"ALL_REDUCE": "all_reduce", "ALL_GATHER": "all_gather", "REDUCE_SCATTER": "reduce_scatter",
             "ALL_TO_ALL": "all_to_all"}
FLASH_KIND = "flash_attention"  # a fused attention kernel (splash.py), priced as the lowering's
# Values, not kernels: they only route data (or ids) between kernels.
_PASS = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "partition-id", "replica-id",
         "after-all", "opt-barrier", "domain", "add-dependency", "copy-start", "copy-done", "iota",
         "send", "send-done", "recv", "recv-done", "infeed", "outfeed", "get-dimension-size"}
_NOT_ARITHMETIC = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "broadcast", "reshape",
                   "transpose", "slice", "dynamic-slice", "dynamic-update-slice", "concatenate", "pad", "copy",
                   "iota", "fusion", "convolution", "dot", "gather", "scatter", "reverse", "bitcast-convert",
                   "partition-id", "replica-id", "convert"}


@dataclass(frozen=True)
class MeshAxes:
    """The device mesh of an SPMD program: pathsim axes and sizes, in the order of the jax Mesh.

    Device id d (a global device id in replica_groups = a position in the mesh's flattened device array)
    sits at np.unravel_index(d, sizes)."""

    axes: tuple[tuple[MeshAxis, int], ...]  # e.g. ((dcn.data, 2), (ici.fsdp, 256), (ici.tensor, 12))

    @property
    def names(self) -> tuple[str, ...]:
        """The jax Mesh's axis names."""
        return tuple(str(a) for a, _ in self.axes)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(n for _, n in self.axes)

    @property
    def devices(self) -> int:
        return math.prod(self.sizes)

    def spanned(self, devices: list[int]) -> list[tuple[MeshAxis, int]]:
        """Axes along which the devices differ, outermost first, with how many coordinates they take."""
        coords = np.array(np.unravel_index(np.asarray(devices), self.sizes)).T
        out = []
        for k, (axis, _) in enumerate(self.axes):
            distinct = len(set(coords[:, k].tolist()))
            if distinct > 1:
                out.append((axis, distinct))
        return out


def replica_groups(raw: str | None, n_devices: int) -> list[list[int]]:
    """Decode replica_groups in any of XLA's three spellings: explicit {{0,1},{2,3}}, iota
    [2,2]<=[2,2]T(1,0), and mesh['axis_0'=2,'axis_1'=2] {'axis_1'}. Empty means every device."""
    raw = (raw or "").strip()
    if raw in ("", "{}", "{{}}"):
        return [list(range(n_devices))]
    if raw.startswith("mesh["):
        m = re.match(r"mesh\[([^\]]*)\](?:,\s*device_ids=\((.*)\))?\s*\{(.*)\}", raw)
        names = re.findall(r"'([^']+)'=(\d+)", m.group(1))
        sizes = [int(n) for _, n in names]
        chosen = [k for k, (name, _) in enumerate(names) if f"'{name}'" in m.group(3)]
        ids = _device_ids(m.group(2), math.prod(sizes)).reshape(sizes)
        rest = [k for k in range(len(sizes)) if k not in chosen]
        group = math.prod(sizes[k] for k in chosen)
        return ids.transpose(rest + chosen).reshape(-1, group).tolist()
    if raw.startswith("["):
        m = re.match(r"\[([\d,]+)\]<=\[([\d,]+)\](?:T\(([\d,]+)\))?", raw)
        shape = [int(x) for x in m.group(1).split(",")]
        dims = [int(x) for x in m.group(2).split(",")]
        ids = np.arange(math.prod(dims)).reshape(dims)
        if m.group(3):
            ids = ids.transpose([int(x) for x in m.group(3).split(",")])
        return ids.reshape(shape[0], -1).tolist()
    return [[int(x) for x in g.split(",") if x.strip()] for g in re.findall(r"\{([\d,\s]*)\}", raw)]


def _device_ids(raw: str | None, n: int) -> np.ndarray:
    """A mesh's device order: iota (default), iota reshaped and transposed ([2,2]T(1,0)), or a list."""
    if not raw:
        return np.arange(n)
    m = re.fullmatch(r"\[([\d,]+)\](?:T\(([\d,]+)\))?", raw.strip())
    if m:
        ids = np.arange(n).reshape([int(x) for x in m.group(1).split(",")])
        if m.group(2):
            ids = ids.transpose([int(x) for x in m.group(2).split(",")])
        return ids.reshape(-1)
    return np.array([int(x) for x in re.findall(r"\d+", raw)])


def _permute_pairs(raw: str | None) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"\{(\d+),(\d+)\}", raw or "")]


def _phase_of(op_name: str, previous: Phase) -> Phase:
    """JAX's op_name metadata says where an op came from: transpose(...) is the backward pass."""
    if not op_name:
        return previous
    if "rematted_computation" in op_name:  # jax.checkpoint's recomputed forward, inside the backward pass
        return "remat"
    if "transpose(" in op_name:
        return "backward"
    if "jvp(" in op_name:
        return "forward"
    return "optimizer" if previous in ("backward", "optimizer") else "forward"


# --- what one kernel does --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Kernel:
    flops: float
    matmuls: tuple[MatmulShape, ...]
    kinds: frozenset[str]  # opcodes inside (for the kind)
    read_bytes: dict[int, float] | None  # effective bytes read per operand index (None: whole operand)
    write_bytes: float | None  # None: the whole output
    collective: Instruction | None  # a collective fused into this kernel (kCustom fusions)
    async_role: str | None = None  # "start" / "done" of an async collective fusion, "continuation" beside it


def _conv_matmul(instr: Instruction, shapes: dict[str, Shape]) -> MatmulShape:
    """A convolution as the matmul it computes. XLA on TPU writes einsums as convolutions whose spatial
    windows (with padding) sweep batch-like dimensions, so MACs count only window positions that land
    inside the input: per spatial dim, the (output, window) pairs with 0 <= o*stride + w - pad_lo < size."""
    out = instr.shape.arrays()[0]
    lhs, rhs = shapes[instr.operands[0]], shapes[instr.operands[1]]
    labels = re.match(r"(\w+)_(\w+)->(\w+)", instr.attr("dim_labels") or "")
    groups = int(instr.attr("feature_group_count") or 1) * int(instr.attr("batch_group_count") or 1)
    if not labels:  # no labels: a plain [m, k] x [k, n]
        k = rhs.size // max(out.dims[-1] if out.dims else 1, 1)
        return MatmulShape(m=max(out.size // max(out.dims[-1], 1), 1), k=max(k, 1), n=max(out.dims[-1], 1))
    lhs_l, rhs_l, out_l = labels.groups()
    window = instr.attr("window") or ""
    size = [int(x) for x in re.search(r"size=([\dx]+)", window).group(1).split("x")] if "size=" in window else []
    pads = re.search(r"pad=([\d_x-]+)", window)
    pad_lo = [int(p.split("_")[0]) for p in pads.group(1).split("x")] if pads else [0] * len(size)
    strides = re.search(r"stride=([\dx]+)", window)
    stride = [int(x) for x in strides.group(1).split("x")] if strides else [1] * len(size)
    positions, pairs = 1, 1
    for d in range(len(size)):
        i_size, o_size = lhs.dims[lhs_l.index(str(d))], out.dims[out_l.index(str(d))]
        valid = 0
        for w in range(size[d]):  # outputs o with 0 <= o*stride + w - pad_lo < i_size
            lo = max(0, -(-(pad_lo[d] - w) // stride[d]))
            hi = min(o_size - 1, (i_size - 1 + pad_lo[d] - w) // stride[d])
            valid += max(0, hi - lo + 1)
        positions *= o_size
        pairs *= valid
    batch_out = out.dims[out_l.index("b")]
    features_out = out.dims[out_l.index("f")]
    in_per_group = rhs.dims[rhs_l.index("i")]
    macs = batch_out * features_out * in_per_group * pairs
    m = batch_out * positions
    n = max(features_out // groups, 1)
    return MatmulShape(m=m, k=max(round(macs / (m * n * groups)), 1), n=n, batch=groups)


def _dims(raw: str | None) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", raw or "")]


def _dot_matmul(instr: Instruction, shapes: dict[str, Shape]) -> MatmulShape:
    lhs, rhs = shapes[instr.operands[0]], shapes[instr.operands[1]]
    k = math.prod(lhs.dims[d] for d in _dims(instr.attr("lhs_contracting_dims")))
    batch = math.prod(lhs.dims[d] for d in _dims(instr.attr("lhs_batch_dims")))
    return MatmulShape(m=max(lhs.size // (k * batch), 1), k=k, n=max(rhs.size // (k * batch), 1), batch=batch)


def _analyse(module: HloModule, name: str, cache: dict[str, _Kernel]) -> _Kernel:
    """What a fused computation does (memoised per module: fusions nest and repeat)."""
    if name not in cache:
        cache[name] = _analyse_fused(module, name, cache)
    return cache[name]


def _analyse_fused(module: HloModule, name: str, cache: dict[str, _Kernel]) -> _Kernel:
    comp = module.computations[name]
    shapes = {i.name: i.shape for i in comp.instructions}
    flops, matmuls, kinds, collective = 0.0, [], set(), None
    users: dict[str, list[tuple[Instruction, int]]] = {}
    for instr in comp.instructions:
        kinds.add(instr.opcode)
        for pos, o in enumerate(instr.operands):
            users.setdefault(o, []).append((instr, pos))
        if instr.opcode in ("dot", "convolution"):
            mm = _dot_matmul(instr, shapes) if instr.opcode == "dot" else _conv_matmul(instr, shapes)
            matmuls.append(mm)
            flops += mm.flops
        elif instr.opcode == "fusion":
            inner = _analyse(module, instr.called("calls"), cache)
            matmuls.extend(inner.matmuls)
            flops += inner.flops
            kinds |= inner.kinds
        elif instr.opcode.removesuffix("-start") in COLLECTIVES:
            collective = instr
        elif instr.opcode in ("reduce", "reduce-window"):
            flops += shapes[instr.operands[0]].size if instr.operands else 0
        elif instr.opcode not in _NOT_ARITHMETIC:
            flops += sum(a.size for a in instr.shape.arrays())
    read: dict[int, float] = {}
    for instr in comp.instructions:
        if instr.opcode != "parameter":
            continue
        index = _param_index(instr)
        partial = _sliced_read(instr.name, users)
        if partial is not None:
            read[index] = partial
    root = comp.root
    outs = [module_root for module_root in (root.operands if root.opcode == "tuple" else [root.name])]
    by_name = comp.by_name()
    role = _async_role(comp, collective)
    carried: set[str] = set()
    if role == "continuation":
        # The collective's buffers pass through a continuation (its operand, its output buffer and flags,
        # handed on untouched to the next fusion, and its result): they move over ICI, priced as the
        # collective; the kernel reads and writes only its own operands and results.
        passed = {i.name for i in comp.instructions if i.opcode == "parameter"
                  and all(u.name == root.name for u, _ in users.get(i.name, [(root, 0)]))}
        carried = _feeds_only(collective, root, users) | {collective.name} | passed
        for instr in comp.instructions:
            if instr.opcode == "parameter" and instr.name in carried:
                read[_param_index(instr)] = 0.0
    write = 0.0
    for o in outs:
        producer = by_name.get(o)
        if o in carried or (producer is not None and producer.opcode == "get-tuple-element"
                            and producer.operands[0] in carried):
            continue
        if producer is not None and producer.opcode == "dynamic-update-slice":
            write += shapes[producer.operands[1]].bytes  # in place: only the update is written
        else:
            write += shapes[o].bytes
    return _Kernel(flops=flops, matmuls=tuple(matmuls), kinds=frozenset(kinds), read_bytes=read,
                   write_bytes=write, collective=collective, async_role=role)


def _feeds_only(target: Instruction, root: Instruction, users: dict[str, list[tuple[Instruction, int]]]) -> set[str]:
    """The values of a computation used by `target` alone (directly or through bitcasts and tuples), or by it
    and the root that hands them on."""
    found: set[str] = set()

    def only_target(name: str) -> bool:
        uses = users.get(name, [])
        return bool(uses) and all(u.name in (target.name, root.name) or (
            u.opcode in ("bitcast", "tuple", "get-tuple-element") and only_target(u.name)) for u, _ in uses)

    pending = list(target.operands)
    while pending:
        name = pending.pop()
        if name not in found and only_target(name):
            found.add(name)
    return found


def _param_index(instr: Instruction) -> int:
    """The argument number of a `parameter(N)` instruction."""
    return int(re.findall(r"\d+", instr.args)[0])


def _async_role(comp: Computation, collective: Instruction | None) -> str | None:
    """TPU's async collective fusions: one collective spread over several fusions, each holding a copy of
    it (same channel_id): a start fusion (root custom-call AsyncCollectiveStart), continuation fusions
    that run kernels while it progresses (async_collective_fusion_config), a done fusion
    (AsyncCollectiveDone). None for a collective fused on its own (synchronous)."""
    if collective is None:
        return None
    targets = {i.attr("custom_call_target") for i in comp.instructions if i.opcode == "custom-call"}
    if '"AsyncCollectiveStart"' in targets:
        return "start"
    if '"AsyncCollectiveDone"' in targets:
        return "done"
    return "continuation" if "async_collective_fusion_config" in collective.attrs else None


def _sliced_read(name: str, users: dict[str, list[tuple[Instruction, int]]]) -> float | None:
    """Bytes read of a value used only by slices (through bitcasts) or as the buffer of an in-place
    dynamic-update-slice; None when some use reads it whole."""
    total = 0.0
    for user, pos in users.get(name, []):
        if user.opcode in ("dynamic-slice", "slice", "gather") and pos == 0:
            total += user.shape.bytes
        elif user.opcode == "dynamic-update-slice" and pos == 0:
            continue
        elif user.opcode == "bitcast":
            inner = _sliced_read(user.name, users)
            if inner is None:
                return None
            total += inner
        else:
            return None
    return total


_EINSUM = re.compile(r"([a-z]+),([a-z]+)->([a-z]+)")


def _batched(op_name: str) -> bool:
    """An einsum with batch dims (in both operands and the result: attention's heads) per JAX's op_name;
    TPU HLO writes them as convolutions, where batch dims hide in windows."""
    m = _EINSUM.search(op_name)
    return bool(m and set(m.group(1)) & set(m.group(2)) & set(m.group(3)))


def _kind(kernel: _Kernel, phase: Phase, op_name: str = "") -> str:
    if FLASH_KIND in kernel.kinds:
        return FLASH_KIND
    if kernel.matmuls:
        batched = max(kernel.matmuls, key=lambda m: m.flops).batch > 1 or _batched(op_name)
        return "attention_matmul" if batched else "matmul"
    if phase == "optimizer":
        return "optimizer"
    if "reduce" in kernel.kinds and "exponential" in kernel.kinds:
        return "softmax"
    if "reduce" in kernel.kinds and "rsqrt" in kernel.kinds:
        return "norm"
    if kernel.kinds & {"gather", "scatter"}:
        return "gather"
    return "elementwise"


# --- the walk over the schedule ----------------------------------------------------------------------

def _union(values) -> frozenset[int]:
    out: set[int] = set()
    for v in values:
        if isinstance(v, tuple):
            out |= _union(v)
        else:
            out |= v
    return frozenset(out)


def _int_literal(instr: Instruction) -> int | None:
    m = re.fullmatch(r"\s*(-?\d+)\s*", instr.args)
    return int(m.group(1)) if m else None


def _first_branch(conditional: Instruction) -> str:
    """The computation of a conditional's first branch: the one the import walks (the branch taken is
    known only at run time)."""
    branches = re.findall(r"%?([\w.\-]+)", conditional.attr("branch_computations") or "")
    return branches[0] if branches else conditional.called("true_computation")


def _channel(coll: Instruction) -> str:
    return coll.attr("channel_id") or coll.name


_CYCLES = re.compile(r'"estimated_cycles":"?(\d+)')


class _Importer:
    def __init__(self, module: HloModule, mesh: MeshAxes | None, clock_hz: float | None) -> None:
        self.module, self.mesh, self.clock_hz = module, mesh, clock_hz
        self.ops: list[Op] = []
        self.barrier: set[int] = set()  # collectives a `-done` (or a sync collective) made the stream wait for
        self.last_compute: int | None = None
        self.phase: Phase = "forward"
        self.comm_of_start: dict[str, tuple[int, ...]] = {}
        self.fused_pending: dict[str, tuple[int, ...]] = {}  # async collective fusions started, by channel
        self.kernels: dict[str, _Kernel] = {}
        self.collective_shapes: dict[str, tuple | None] = {}
        self.by_name: dict[str, dict[str, Instruction]] = {}  # per computation
        self.names: dict[int, dict[str, Instruction]] = {}  # per walk's environment: its computation's
        self.rendezvous: dict[str, tuple[int, ...]] = {}  # DCN transfers by rendezvous name
        self.recv_key: dict[str, str] = {}

    # A value is the set of ops whose results it carries (a tuple of such sets for tuples).
    def walk(self, comp: Computation, params: list, path: str):
        env: dict[str, object] = {}
        self.names[id(env)] = self.by_name.setdefault(comp.name, comp.by_name())
        for instr in comp.instructions:
            env[instr.name] = self.visit(instr, env, params, path)
        return env[comp.root.name]

    def visit(self, instr: Instruction, env: dict, params: list, path: str):
        op = instr.opcode
        args = [env.get(o, frozenset()) for o in instr.operands]
        if op == "parameter":
            index = _param_index(instr)
            return params[index] if index < len(params) else frozenset()
        if op == "get-tuple-element":
            value = args[0]
            index = int(instr.attr("index"))
            return value[index] if isinstance(value, tuple) and index < len(value) else _union([value])
        if op == "tuple":
            return tuple(args)
        if op == "while":
            return self.expand_while(instr, args[0], path, self.names[id(env)])
        if op in ("call", "async-call"):
            return self.walk(self.module.computations[instr.called("to_apply")], args, path)
        if op == "conditional":
            return self.walk(self.module.computations[_first_branch(instr)], args[1:2], path)
        if (op in ("send", "recv") and "_xla_megascale_transfer_type" in instr.attrs) or \
                (op == "recv-done" and instr.operands and instr.operands[0] in self.recv_key):
            return self.megascale(instr, args, path)
        if op.endswith("-done") and instr.operands and instr.operands[0] in self.comm_of_start:
            self.barrier |= set(self.comm_of_start[instr.operands[0]])
            return frozenset(self.comm_of_start[instr.operands[0]])
        if op in _PASS or op.endswith("-done") or op.endswith("-update"):
            return _union(args)
        if op in HOST_COPIES and instr.host_memory:
            return self.host_copy(instr, args)
        if op in ASYNC_SLICES:
            return _union(args)
        base = op.removesuffix("-start")
        if base in COLLECTIVES:
            return self.collective(instr, instr, args, path, is_async=op.endswith("-start"))
        if op == "async-start":
            wrapped = self.module.computations[instr.called("calls")].root
            if wrapped.opcode.removesuffix("-start") in COLLECTIVES:
                return self.collective(instr, wrapped, args, path, is_async=True)
        if op == "fusion":
            kernel = _analyse(self.module, instr.called("calls"), self.kernels)
            if kernel.async_role == "start":
                return self.fused_start(instr, kernel.collective, args, path)
            if kernel.async_role == "done":
                return self.fused_done(kernel.collective, args)
            if kernel.collective is not None and kernel.async_role is None and not kernel.matmuls:
                return self.collective(instr, kernel.collective, args, path, is_async=False, fused_out=instr.shape)
        if op == "custom-call" and ("AllocateBuffer" in instr.attrs or not instr.operands):
            return frozenset()
        if op == "custom-call" and "ConcatBitcast" in (instr.attr("custom_call_target") or ""):
            return _union(args)  # views the slices async copies placed side by side as one buffer: no kernel
        if op == "custom-call":
            splash = splash_kernel(instr, [self.operand_shape(instr, k) for k in range(len(instr.operands))])
            if splash is not None:  # a Pallas kernel carries no estimate: priced from its attention shapes
                no_reads = dict.fromkeys(range(len(instr.operands)), 0.0)  # its bytes are all in hbm_bytes
                return self.compute(instr, args, _Kernel(splash.block.flops, (splash.block,),
                                                         frozenset({FLASH_KIND}), no_reads, splash.hbm_bytes, None))
        if instr.shape.size <= 1 and not instr.shape.is_tuple and op not in ("fusion", "custom-call"):
            return _union(args)  # scalar bookkeeping (loop counters, indices)
        return self.compute(instr, args)

    def expand_while(self, instr: Instruction, init, path: str, caller: dict[str, Instruction]):
        body = self.module.computations[instr.called("body")]
        value = init
        for t in range(self.trip_count(instr, caller)):
            value = self.walk(body, [value], f"{path}{instr.name}[{t}]/")
        return value

    def trip_count(self, instr: Instruction, caller: dict[str, Instruction]) -> int:
        known = instr.backend_config().get("known_trip_count", {}).get("n")
        if known is not None:
            return int(known)
        # The condition compares a counter with a constant: i < N. The body adds a constant step to the
        # counter (XLA's bidirectional windowed einsums step by 2), which starts at the init constant.
        cond = self.module.computations[instr.called("condition")]
        cn = cond.by_name()
        root = cond.root
        constants = {i.name: _int_literal(i) for i in cond.instructions if i.opcode == "constant"}
        if root.opcode == "compare" and "direction=LT" in root.attrs and len(root.operands) == 2:
            counter, bound = (cn.get(root.operands[0]), constants.get(root.operands[1]))
            if counter is not None and counter.opcode == "get-tuple-element" and bound is not None:
                k = int(counter.attr("index"))
                step = self._counter_step(self.module.computations[instr.called("body")], k)
                start = self._literal_through_copies(caller, caller.get(instr.operands[0]), k)
                return max(0, -(-(bound - (start or 0)) // (step or 1)))
        values = [v for v in constants.values() if v is not None]
        return max(values) if values else 1

    @staticmethod
    def _counter_step(body: Computation, k: int) -> int | None:
        bn = body.by_name()
        root = body.root
        update = bn.get(root.operands[k]) if root.opcode == "tuple" and k < len(root.operands) else None
        if update is None or update.opcode != "add":
            return None
        steps = [_int_literal(bn[o]) for o in update.operands if o in bn and bn[o].opcode == "constant"]
        return steps[0] if steps and steps[0] and steps[0] > 0 else None

    @staticmethod
    def _literal_through_copies(names: dict[str, Instruction], init: Instruction | None, k: int) -> int | None:
        if init is None or init.opcode != "tuple" or k >= len(init.operands):
            return None
        value = names.get(init.operands[k])
        while value is not None and value.opcode == "copy":
            value = names.get(value.operands[0])
        return _int_literal(value) if value is not None and value.opcode == "constant" else None

    # --- kernels ---------------------------------------------------------------------------------
    def compute(self, instr: Instruction, args: list, kernel: _Kernel | None = None) -> frozenset[int]:
        self.phase = _phase_of(instr.op_name(), self.phase)
        operand_bytes = [self.operand_shape(instr, k).bytes for k in range(len(instr.operands))]
        if kernel is None:  # else priced by the caller (a splash kernel)
            kernel = (_analyse(self.module, instr.called("calls"), self.kernels) if instr.opcode == "fusion"
                      else self.single(instr))
        read = sum(kernel.read_bytes.get(k, b) if kernel.read_bytes else b for k, b in enumerate(operand_bytes))
        write = kernel.write_bytes if kernel.write_bytes is not None else instr.shape.bytes
        matmul = max(kernel.matmuls, key=lambda m: m.flops) if kernel.matmuls else None
        cycles = _CYCLES.search(instr.attrs)
        estimate = int(cycles.group(1)) / self.clock_hz if cycles and self.clock_hz else None
        comm_deps = {d for d in _union(args) if not isinstance(self.ops[d], ComputeOp)}
        index = len(self.ops)
        self.ops.append(ComputeOp(
            name=instr.name, kind=_kind(kernel, self.phase, instr.op_name()), phase=self.phase, flops=kernel.flops,
            hbm_bytes=read + write, deps=tuple(sorted(comm_deps | self.barrier)), matmul=matmul,
            compiler_estimate_s=estimate))
        self.barrier = set()
        self.last_compute = index
        return frozenset({index})

    def operand_shape(self, instr: Instruction, k: int) -> Shape:
        return self._shapes.get(instr.operands[k], Shape())

    def single(self, instr: Instruction) -> _Kernel:
        """An unfused instruction as a one-instruction kernel."""
        shapes = {o: self.operand_shape(instr, k) for k, o in enumerate(instr.operands)}
        op = instr.opcode
        if op in ("dot", "convolution"):
            mm = _dot_matmul(instr, shapes) if op == "dot" else _conv_matmul(instr, shapes)
            return _Kernel(mm.flops, (mm,), frozenset({op}), None, None, None)
        read: dict[int, float] = {}
        write = None
        if op in ("dynamic-slice", "slice", "gather"):
            read[0] = instr.shape.bytes
        elif op == "dynamic-update-slice":
            read[0] = 0.0
            write = shapes[instr.operands[1]].bytes
        flops = 0.0 if op in _NOT_ARITHMETIC or op == "custom-call" else float(instr.shape.size)
        if op in ("reduce", "reduce-window") and instr.operands:
            flops = float(shapes[instr.operands[0]].size)
        return _Kernel(flops, (), frozenset({op}), read, write, None)

    # --- collectives -----------------------------------------------------------------------------
    def collective(self, instr: Instruction, coll: Instruction, args: list, path: str, *, is_async: bool,
                   fused_out: Shape | None = None) -> frozenset[int]:
        self.phase = _phase_of(instr.op_name() or coll.op_name(), self.phase)
        if instr.name not in self.collective_shapes:  # the same in every loop iteration: decode once
            self.collective_shapes[instr.name] = self.collective_shape(instr, coll, fused_out)
        shape = self.collective_shapes[instr.name]
        if shape is None:  # over one device: nothing moves
            return _union(args)
        kind, axes, v = shape
        deps = set(_union(args)) | self.barrier
        if self.last_compute is not None:
            deps.add(self.last_compute)
        indices = self.chain(instr.name, kind, axes, v, tuple(sorted(deps)), f"{path}{instr.name}")
        if is_async:
            self.comm_of_start[instr.name] = indices
        else:
            self.barrier |= set(indices)
        return frozenset(indices[-1:])

    def fused_start(self, instr: Instruction, coll: Instruction, args: list, path: str) -> frozenset[int]:
        """An async collective fusion starts: its continuations run beside it; its done fusion waits."""
        self.collective(instr, coll, args, path, is_async=True)
        self.fused_pending[_channel(coll)] = self.comm_of_start.pop(instr.name, ())
        return _union(args)

    def fused_done(self, coll: Instruction, args: list) -> frozenset[int]:
        indices = self.fused_pending.pop(_channel(coll), ())
        self.barrier |= set(indices)
        return frozenset(indices) | _union(args)

    def collective_shape(self, instr: Instruction, coll: Instruction,
                         fused_out: Shape | None) -> tuple[str, list[tuple[MeshAxis, int]], float] | None:
        """(pathsim collective, mesh axes innermost first, V bytes), or None for a one-device group."""
        kind = COLLECTIVES[coll.opcode.removesuffix("-start")]
        # The collective's own operands: a fusion's operands may also hold its output buffer and flags.
        payload = sum(self.operand_shape(coll, k).bytes for k in range(len(coll.operands)))
        if kind == "permute":
            pairs = [(a, b) for a, b in _permute_pairs(coll.attr("source_target_pairs")) if a != b]
            if not pairs:
                return None
            if self.mesh is None:
                raise ValueError(f"{instr.name}: a collective-permute needs the mesh (MeshAxes)")
            moved = {axis for a, b in pairs[:64] for axis, _ in self.mesh.spanned([a, b])}
            axis = [a for a, _ in self.mesh.axes if a in moved][-1]  # the innermost axis it moves along
            n = dict(self.mesh.axes)[axis]
            return "all_gather", [(axis, n)], payload * n / (n - 1)
        groups = replica_groups(coll.attr("replica_groups"), self.mesh.devices if self.mesh else 1)
        n = len(groups[0])
        if fused_out is not None and kind == "all_reduce" and fused_out.bytes < payload:
            kind = "reduce_scatter"  # an all-reduce whose result is sliced: XLA's fused reduce-scatter
        if n <= 1:
            return None
        if self.mesh is None:
            raise ValueError(f"{instr.name}: a collective over {n} devices needs the mesh (MeshAxes)")
        axes = self.mesh.spanned(groups[0])
        return kind, axes[::-1], payload * n if kind == "all_gather" else payload

    def host_copy(self, instr: Instruction, args: list) -> frozenset[int]:
        """An offload copy: the update written into host memory, or the slice read out of it."""
        self.phase = _phase_of(instr.op_name(), self.phase)
        if instr.opcode == "dynamic-update-slice-start":
            direction, nbytes = "device_to_host", self.operand_shape(instr, 1).bytes
        else:  # dynamic-slice-start: ((source, indices...), slice, context)
            elements = instr.shape.elements or ()
            direction, nbytes = "host_to_device", elements[1].bytes if len(elements) > 1 else instr.shape.bytes
        deps = set(_union(args)) | self.barrier
        if self.last_compute is not None:
            deps.add(self.last_compute)
        index = len(self.ops)
        self.ops.append(CommOp(name=instr.name, collective=direction, axis=HOST_LINK, bytes=nbytes,  # type: ignore[arg-type]
                               phase=self.phase, deps=tuple(sorted(deps)), key=f"{instr.name}/{index}"))
        self.comm_of_start[instr.name] = (index,)
        return frozenset({index})

    def megascale(self, instr: Instruction, args: list, path: str) -> frozenset[int]:
        """Collectives across slices: libtpu hands them to the DCN runtime as host-transfer send/recv
        pairs (frontend attribute _xla_megascale_transfer_type), matched by their rendezvous name. The
        send starts it over the mesh's DCN axes; the recv-done is where the program waits for it."""
        if instr.opcode == "recv-done":
            indices = self.rendezvous.get(self.recv_key.get(instr.operands[0], ""), ())
            self.barrier |= set(indices)
            return frozenset(indices)
        key = re.search(r'_xla_host_transfer_rendezvous="([^"]*)"', instr.attrs)
        key = key.group(1) if key else instr.name
        if instr.opcode == "recv":
            self.recv_key[instr.name] = key
            return frozenset(self.rendezvous.get(key, ()))
        dcn = [(a, n) for a, n in (self.mesh.axes if self.mesh else ()) if a.network == "dcn"]
        if not dcn:
            return _union(args)
        self.phase = _phase_of(instr.op_name(), self.phase)
        transfer = re.search(r'_xla_megascale_transfer_type="([A-Z_]+)"', instr.attrs).group(1)
        kind = MEGASCALE.get(transfer, "all_to_all")
        payload = self.operand_shape(instr, 0).bytes
        v = payload * math.prod(n for _, n in dcn) if kind == "all_gather" else payload
        deps = set(_union(args[:1])) | self.barrier
        if self.last_compute is not None:
            deps.add(self.last_compute)
        self.rendezvous[key] = self.chain(instr.name, kind, dcn[::-1], v, tuple(sorted(deps)), f"{path}{instr.name}")
        return frozenset(self.rendezvous[key][-1:])

    def chain(self, name: str, kind: str, axes: list[tuple[MeshAxis, int]], v: float, deps: tuple[int, ...],
              key: str) -> tuple[int, ...]:
        """One-axis collectives (axes innermost first) moving the bytes of one multi-axis collective."""
        steps: list[tuple[str, MeshAxis, float]] = []
        sizes = [n for _, n in axes]
        if kind == "all_gather":
            steps = [("all_gather", a, v / math.prod(sizes[j + 1:])) for j, (a, _) in enumerate(axes)]
        elif kind == "reduce_scatter":
            steps = [("reduce_scatter", a, v / math.prod(sizes[:j])) for j, (a, _) in enumerate(axes)]
        elif kind == "all_reduce":
            inner = axes[:-1]
            down = [("reduce_scatter", a, v / math.prod(sizes[:j])) for j, (a, _) in enumerate(inner)]
            steps = down + [("all_reduce", axes[-1][0], v / math.prod(sizes[:-1]))]
            steps += [("all_gather", a, v / math.prod(sizes[:j])) for j, (a, _) in reversed(list(enumerate(inner)))]
        else:
            steps = [(kind, a, v) for a, _ in axes]
        out: list[int] = []
        for collective, axis, nbytes in steps:
            out.append(len(self.ops))
            self.ops.append(CommOp(name=name, collective=collective, axis=axis, bytes=nbytes, phase=self.phase,
                                   deps=deps if not out[:-1] else (out[-2],), key=f"{key}/{axis}/{len(out)}"))
        return tuple(out)

    def run(self) -> list[Op]:
        entry = self.module.computations[self.module.entry]
        self._shapes = {i.name: i.shape for c in self.module.computations.values() for i in c.instructions}
        self.walk(entry, [], "")
        return self.ops


def import_hlo(hlo_text: str, mesh: MeshAxes | None = None, clock_hz: float | None = None,
               computation: str = "train") -> Program:
    """The Program of a compiled HLO module (text of one device's program, scheduled).

    hlo_text: `compiled.as_text()` (TPU or CPU; an unscheduled module is taken in textual order).
    mesh: where replica_groups' device ids sit, over pathsim's mesh axes;
        None for a one-device program (a collective over more than one device then raises ValueError).
    clock_hz: the clock `estimated_cycles` count in, for ComputeOp.compiler_estimate_s; None leaves it None.
    computation: the gang-scheduled computation every op belongs to.

    Returns one GroupProgram per DCN coordinate of the mesh (one group "all" without DCN axes), each
    with the same ops: ComputeOps named by HLO instruction (a while body's ops repeat once per iteration
    under the same names) and CommOps over mesh axes.
    """
    module = parse_module(hlo_text)
    ops = _Importer(module, mesh, clock_hz).run()
    if computation != "train":
        ops = [_with_computation(op, computation) for op in ops]
    axes = mesh.axes if mesh else ()
    dcn = sorted((a, n) for a, n in axes if a.network == "dcn")
    chips = math.prod(n for a, n in axes if a.network == "ici")
    groups = []
    for coords in itertools.product(*(range(n) for _, n in dcn)):
        named = tuple((a, c) for (a, _), c in zip(dcn, coords))
        groups.append(GroupProgram(name=group_label(named), coords=named, ops=tuple(ops), chips=chips))
    return Program(groups=tuple(groups), group_axes=tuple(dcn), computations=(computation,))


def computation_runs(module: HloModule) -> dict[str, int]:
    """How many times each computation reached from the entry runs in one execution of the module: a while
    loop's body once per iteration (its trip count as the import reads it), a computation a fusion, call or
    async op calls once per call, a conditional's first branch (the one the import walks)."""
    trip_count = _Importer(module, None, None).trip_count
    runs: dict[str, int] = {}

    def visit(name: str, times: int) -> None:
        runs[name] = runs.get(name, 0) + times
        comp = module.computations[name]
        names = comp.by_name()
        for instr in comp.instructions:
            if instr.opcode == "while":
                visit(instr.called("body"), times * trip_count(instr, names))
            elif instr.opcode == "conditional":
                visit(_first_branch(instr), times)
            elif instr.opcode in ("fusion", "call", "async-call", "async-start"):
                callee = instr.called("calls") or instr.called("to_apply")
                if callee in module.computations:
                    visit(callee, times)

    visit(module.entry, 1)
    return runs


def matmul_flops(hlo_text: str) -> float:
    """Matmul FLOPs one device executes in one run of a compiled HLO module: 2 x MACs of each dot and
    convolution, times the runs of its computation (a layer scan's body once per layer)."""
    module = parse_module(hlo_text)
    total = 0.0
    for name, times in computation_runs(module).items():
        comp = module.computations[name]
        shapes = {i.name: i.shape for i in comp.instructions}
        for instr in comp.instructions:
            if instr.opcode == "dot":
                total += times * _dot_matmul(instr, shapes).flops
            elif instr.opcode == "convolution":
                total += times * _conv_matmul(instr, shapes).flops
    return total


def _with_computation(op: Op, computation: str) -> Op:
    return replace(op, computation=computation)
