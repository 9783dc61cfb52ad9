"""A small parser of XLA's HLO text (`compiled.as_text()`): computations, instructions, shapes.

Only what the importer needs: each instruction's name, shape, opcode, operand names and attributes
(raw strings, parsed on demand). Works on TPU (with layouts, memory spaces, backend_config) and CPU text.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

# Bits per element; anything else (token, opaque) counts as zero bytes.
_DTYPE_BITS = {
    "pred": 8, "s4": 4, "u4": 4, "s8": 8, "u8": 8, "f8e4m3fn": 8, "f8e5m2": 8, "f8e4m3b11fnuz": 8,
    "f8e4m3fnuz": 8, "f8e5m2fnuz": 8, "s16": 16, "u16": 16, "f16": 16, "bf16": 16, "s32": 32, "u32": 32,
    "f32": 32, "s64": 64, "u64": 64, "f64": 64, "c64": 64, "c128": 128,
}
_ARRAY = re.compile(r"([a-z0-9]+)\[([0-9,]*)\]")


@dataclass(frozen=True)
class Shape:
    """An array shape, or a tuple of shapes (`elements`)."""

    dtype: str = ""
    dims: tuple[int, ...] = ()
    elements: tuple["Shape", ...] | None = None

    @property
    def is_tuple(self) -> bool:
        return self.elements is not None

    @property
    def size(self) -> int:
        return math.prod(self.dims)

    @property
    def bytes(self) -> float:
        if self.elements is not None:
            return sum(e.bytes for e in self.elements)
        return self.size * _DTYPE_BITS.get(self.dtype, 0) / 8.0

    def arrays(self) -> list["Shape"]:
        if self.elements is None:
            return [self]
        return [a for e in self.elements for a in e.arrays()]


@dataclass(frozen=True)
class Instruction:
    name: str
    shape: Shape
    opcode: str
    operands: tuple[str, ...]
    attrs: str  # everything after the operand list, unparsed
    args: str = ""  # the operand list as written (holds literals: parameter(0), constant(3))
    is_root: bool = False
    host_memory: bool = False  # its result (or a part of it) lives in TPU host memory, layout space S(5)

    def attr(self, key: str) -> str | None:
        """The raw value of `key=...` (balanced braces/brackets), or None."""
        return _attr(self.attrs, key)

    def called(self, key: str) -> str | None:
        value = self.attr(key)
        return value.lstrip("%") if value else None

    def backend_config(self) -> dict:
        raw = self.attr("backend_config")
        if not raw or not raw.startswith("{"):
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return {}

    def op_name(self) -> str:
        m = re.search(r'op_name="([^"]*)"', self.attrs)
        return m.group(1) if m else ""


@dataclass(frozen=True)
class Computation:
    name: str
    instructions: tuple[Instruction, ...]
    is_entry: bool

    def by_name(self) -> dict[str, Instruction]:
        return {i.name: i for i in self.instructions}

    @property
    def root(self) -> Instruction:
        return next((i for i in self.instructions if i.is_root), self.instructions[-1])


@dataclass(frozen=True)
class HloModule:
    computations: dict[str, Computation]
    entry: str


def _matching(text: str, start: int) -> int:
    """Index just past the bracket that closes the one at `start` (skipping JSON strings)."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[text[start]]]
    i = start + 1
    in_string = False
    while i < len(text) and stack:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in pairs:
            stack.append(pairs[c])
        elif c == stack[-1]:
            stack.pop()
        i += 1
    return i


def _attr(attrs: str, key: str) -> str | None:
    m = re.search(r"(?:^|[\s,])" + re.escape(key) + r"=", attrs)
    if not m:
        return None
    i = m.end()
    if i < len(attrs) and attrs[i] in "{[(":
        end = _matching(attrs, i)
        if attrs.startswith("<=", end):  # iota replica groups: [2,2]<=[2,2]T(1,0)
            depth = 0
            while end < len(attrs) and not (depth == 0 and attrs[end] in ", "):
                depth += attrs[end] in "[(" and 1 or (-1 if attrs[end] in "])" else 0)
                end += 1
        return attrs[i:end]
    end = i
    while end < len(attrs) and attrs[end] not in ", ":
        end += 1
    value = attrs[i:end]
    if value.startswith("mesh["):  # replica_groups=mesh['a'=2,'b'=2] {'b'}
        j = attrs.find("}", end)
        return attrs[i:j + 1]
    return value


def parse_shape(text: str) -> Shape:
    text = text.strip()
    if text.startswith("("):
        inner = text[1:_matching(text, 0) - 1]
        parts, depth, last = [], 0, 0
        for i, c in enumerate(inner):
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == "," and depth == 0:
                parts.append(inner[last:i])
                last = i + 1
        parts.append(inner[last:])
        cleaned = [re.sub(r"/\*.*?\*/", "", p).strip() for p in parts]
        return Shape(elements=tuple(parse_shape(p) for p in cleaned if p))
    m = _ARRAY.match(text)
    if not m:
        return Shape(dtype=text.split("[")[0])
    dims = tuple(int(d) for d in m.group(2).split(",") if d)
    return Shape(dtype=m.group(1), dims=dims)


_INSTR = re.compile(r"\s*(ROOT\s+)?%?([\w.\-]+)\s*=\s*")
# XLA TPU's memory space of pinned host memory in a layout ({...:T(8,128)S(5)}): where offloaded residuals live.
HOST_MEMORY_SPACE = "S(5)"


def parse_instruction(line: str) -> Instruction | None:
    m = _INSTR.match(line)
    if not m:
        return None
    i = m.end()
    if line[i] == "(":
        end = _matching(line, i)
    else:  # layouts like {1,0:T(8,128)(2,1)S(3)} hold no spaces: the shape ends at the first space
        end = line.index(" ", i)
    shape = parse_shape(_strip_layouts(line[i:end]))
    rest = line[end:].lstrip()
    op_end = rest.index("(")
    opcode = rest[:op_end].strip()
    close = _matching(rest, op_end)
    operand_text = rest[op_end + 1:close - 1]
    operands = tuple(re.findall(r"%([\w.\-]+)", operand_text))
    attrs = rest[close:].lstrip(", ")
    return Instruction(name=m.group(2), shape=shape, opcode=opcode, operands=operands, attrs=attrs,
                       is_root=bool(m.group(1)), args=operand_text, host_memory=HOST_MEMORY_SPACE in line[i:end])


def _strip_layouts(text: str) -> str:
    # Remove {...} layout blocks (they may nest one level: {1,0:T(8,128)(2,1)S(3)}).
    out, i = [], 0
    while i < len(text):
        if text[i] == "{":
            i = _matching(text, i)
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


_HEADER = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s*\(.*\{\s*$")


def parse_module(text: str) -> HloModule:
    computations: dict[str, Computation] = {}
    entry = ""
    current: tuple[str, bool] | None = None
    body: list[Instruction] = []
    for line in text.splitlines():
        if current is None:
            m = _HEADER.match(line)
            if m and not line.startswith("HloModule"):
                current, body = (m.group(2), bool(m.group(1))), []
            continue
        if line.strip() == "}":
            name, is_entry = current
            computations[name] = Computation(name=name, instructions=tuple(body), is_entry=is_entry)
            if is_entry:
                entry = name
            current = None
            continue
        instr = parse_instruction(line)
        if instr is not None:
            body.append(instr)
    if not entry:
        raise ValueError("no ENTRY computation in the HLO text")
    return HloModule(computations=computations, entry=entry)
