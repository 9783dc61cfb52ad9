"""How pathsim's child processes end with it: termination signals unwind like Ctrl-C (so `with` blocks
kill children and remove temporary folders), and a child notices its parent's death even by SIGKILL."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TERMINATING = (signal.SIGTERM, signal.SIGHUP)  # `kill PID`, a closed terminal
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program runs: every Ctrl-C path (kill the children, keep the
    finished rows, remove temporary files) serves it too; the exit code is 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def interrupt_for(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _raise_terminated(signum: int, _frame) -> None:
    raise Terminated(signum)


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated in the main thread for the duration (the default would end the
    process at once: no cleanup, and multiprocessing's tracker reports leaked semaphores)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_terminated) for s in TERMINATING}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def signal_on_parent_death() -> None:
    """A Popen preexec_fn: the kernel sends the child SIGTERM when its parent dies (Linux prctl). SIGTERM
    is ignored until the child installs its own handler (an ignored signal stays ignored across exec): a
    child still starting up is then ended by watch_parent, which also cleans up."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: watch_parent still ends the child
        pass


def _wait_for_exit(pid: int) -> None:
    """Return once process `pid` has ended (a pidfd turns readable then, even while it is a zombie)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd (not Linux, or an old kernel): look every second
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
    select.select([fd], [], [])


def watch_parent(parent_pid: int, cleanup: Callable[[], None] = lambda: None) -> None:
    """In a child: when the parent ends (even by SIGKILL), run `cleanup` and exit. A daemon thread, so it
    acts while the main thread is inside native code that released the GIL (an XLA compile)."""

    def watch() -> None:
        _wait_for_exit(parent_pid)
        try:
            cleanup()
        finally:
            os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
