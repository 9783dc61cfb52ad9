"""The one YAML reader of every file pathsim reads (experiments, topologies, sweeps, Pathways experiments,
jobs files): hostile or broken input ends in one ConfigError naming the file's field, never a traceback.

PyYAML alone turns a binary file into UnicodeDecodeError, deep nesting into RecursionError, an integer of
thousands of digits into Python's digit-limit ValueError, and silently keeps the last of two equal keys.
Here the file is decoded strictly, the node tree is composed with a depth bound, walked once (bounding its
size, aliases included, and refusing duplicate keys by their dotted path), and only then constructed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pathsim.errors import ConfigError

MAX_FILE_BYTES = 4 * 1024 * 1024  # experiment files are a few KiB; a sweep's value lists at most a few 100 KiB
MAX_DEPTH = 64  # the deepest schema is 5 levels
MAX_NODES = 200_000  # scalars, lists and mappings, aliases counted every time they are used
MAX_INT_DIGITS = 64  # no count or size in pathsim is near 10^64; Python refuses more than 4300 digits


class _Loader(yaml.SafeLoader):
    """SafeLoader with a bounded composer depth and integers refused beyond MAX_INT_DIGITS."""

    def __init__(self, stream: str, field: str) -> None:
        super().__init__(stream)
        self._field = field
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(self._field, f"nested more than {MAX_DEPTH} levels deep at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConfigError(self._field, f"integer of {digits} digits at line {node.start_mark.line + 1} "
                                           f"(at most {MAX_INT_DIGITS})")
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
# YAML 1.1 reads 1e10 (no dot, no exponent sign) as a string; YAML 1.2 and every user read it as a number.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def _check_tree(root: Node, field: str, prefix: str) -> None:
    """Refuse duplicate keys (naming their dotted path) and trees larger than MAX_NODES or deeper than
    MAX_DEPTH once aliases are followed (a recursive alias is both), without recursion. Paths are tuples
    of shared key strings, joined only for an error, so aliased long keys cost nothing."""
    def dotted(path: tuple[str, ...]) -> str:
        return ".".join((prefix, *path) if prefix else path)

    seen = 0
    stack: list[tuple[Node, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ConfigError(field, f"more than {MAX_NODES} values (lists this long, or aliases expanding to this "
                                     "many, are not a pathsim input)")
        if len(path) > MAX_DEPTH:
            raise ConfigError(field, f"nested more than {MAX_DEPTH} levels deep (following aliases)")
        if isinstance(node, SequenceNode):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            lines: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, ScalarNode) else "?"
                if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if name in lines:
                        raise ConfigError(dotted((*path, name)), f"given twice in one mapping (lines {lines[name]} "
                                          f"and {key.start_mark.line + 1}); give each key once")
                    lines[name] = key.start_mark.line + 1
                stack.append((key, (*path, name)))
                stack.append((value, (*path, name)))


def read_text(path: Path, field: str) -> str:
    """A pathsim input file's text: UTF-8, a plain file of at most MAX_FILE_BYTES, or a ConfigError."""
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, ValueError):  # a NUL in the name, a name too long for the file system
        raise ConfigError(field, f"{str(path)!r} is not a usable file name") from None
    if is_dir:
        raise ConfigError(field, f"{str(path)!r} is a directory, not a YAML file")
    if not is_file:
        raise ConfigError(field, f"file {str(path)!r} does not exist")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(field, f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(field, f"{str(path)!r} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; not a "
                                 "pathsim input")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(field, f"{str(path)!r} is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})"
                          ) from None


def _where(exc: yaml.YAMLError, text: str) -> str:
    """The line to fix, which PyYAML's own mark often is not: it stops where it noticed the problem,
    the line after an unclosed bracket or quote, or after a key that lacks its ':'."""
    mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "malformed"
    if mark is None:
        return f": {problem}"
    opened = getattr(exc, "context", None) or ""
    if context is not None and context.line < mark.line and opened.startswith(("while parsing a flow",
                                                                               "while scanning a quoted")):
        what = opened.removeprefix("while parsing a ").removeprefix("while scanning a ")
        return f" at line {context.line + 1}: a {what} opened here is not closed ({problem} at line {mark.line + 1})"
    if problem == "mapping values are not allowed here":
        lines = text.splitlines()
        before = [i for i in range(mark.line - 1, -1, -1) if lines[i].split("#")[0].strip()][:1]
        if before and ":" not in lines[before[0]].split("#")[0]:  # a plain scalar ran on into this line
            return f" at line {before[0] + 1}: a key without ':' (found by the ':' at line {mark.line + 1})"
    return f" at line {mark.line + 1}: {problem}"


def load_yaml_text(text: str, field: str, prefix: str = "") -> Any:
    """Parse one YAML document; `field` names the file in errors, `prefix` starts its keys' dotted paths."""
    loader = None
    try:
        loader = _Loader(text, field)  # the reader refuses control characters here
        node = loader.get_single_node()
        if node is None:
            return None
        _check_tree(node, field, prefix)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(field, f"not valid YAML{_where(exc, text)}") from None
    except RecursionError:  # the composer depth bound should make this unreachable; kept as a backstop
        raise ConfigError(field, "nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: Path | str, field: str) -> dict[str, Any]:
    """The mapping in a YAML file, or a ConfigError naming `field` ("experiment", "topology", ...)."""
    path = Path(path)
    data = load_yaml_text(read_text(path, field), field, prefix="" if field == "experiment" else field)
    if not isinstance(data, dict):
        raise ConfigError(field, f"{path} must hold a mapping of keys to values")
    return data
