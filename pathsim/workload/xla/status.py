"""Who shows a compile's progress on the terminal: a caller that already draws a status line (the CLI's
spinner) sets `compile_status` and is told what is happening; without one the compile draws its own line.
One owner of the terminal line, so the two never overwrite each other."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

# Called with the text to show while compiling, and with None when the compile is over.
compile_status: ContextVar[Callable[[str | None], None] | None] = ContextVar("compile_status", default=None)
