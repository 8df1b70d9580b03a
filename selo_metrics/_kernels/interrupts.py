"""Interrupts held back while the kernels' threads work, and locks an interrupt left held.

Python runs a signal handler in the main thread between two bytecodes, wherever that thread
is; a handler that raises (``KeyboardInterrupt`` for Ctrl-C, the CLI's SIGTERM) can strike
between a lock's ``acquire`` and the ``with`` block that would release it (CPython's
``__enter__`` is not atomic: gh-74174). llvmlite's lock (``with`` around every LLVM call,
numba loading or compiling a kernel) was left held that way by the main thread while it ran
one of :class:`~selo_metrics._kernels.Jobs`' jobs, and the helper thread, loading another
kernel, waited for it for ever: ``selo-metrics score`` hung after a SIGTERM
(``tests/selo_metrics/test_hostile_cli.py``, on an AMD Zen 3, 2 December).

Two defences:

* :func:`section`: while the main thread coordinates the kernels' threads, a handler made
  with :func:`deferrable` (the CLI's SIGINT and SIGTERM handlers are) only records the
  signal; it is handled, and raises, when the section ends, at a point that holds no lock.
  The kernels' work is bounded (a 10000 x 10000 map takes a fraction of a second, a first
  call compiling the kernels longer), so an interrupt waits at most that long.
* :func:`release_leaked_locks`: where a section begins, the main thread holds no llvmlite or
  numba compiler lock legitimately (sections are entered from plain Python, never from
  inside a compilation); one it holds there was left by an interrupt (Ctrl-C in a notebook,
  whose handler is not deferrable) and is released, so that the helper threads can load
  and compile kernels again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["deferrable", "held_locks", "release_leaked_locks", "section"]

Handler = Callable[[int, "FrameType | None"], Any]

_depth = 0  # sections the main thread is in
_held: list[tuple[Handler, int]] = []  # signals recorded in a section, first first


def _locks() -> list[Any]:
    # the re-entrant locks that a kernel's loading or compilation takes (private attributes:
    # a version without them is skipped)
    found = []
    try:
        from llvmlite.binding import ffi
        found.append(ffi.lib._lock._lock)
    except (ImportError, AttributeError):  # pragma: no cover - another llvmlite
        pass
    try:
        from numba.core.compiler_lock import global_compiler_lock
        found.append(global_compiler_lock._lock)
    except (ImportError, AttributeError):  # pragma: no cover - another numba
        pass
    return [lock for lock in found if hasattr(lock, "_is_owned")
            and hasattr(lock, "_release_save")]


_LOCKS = _locks()


def held_locks() -> int:
    """How many of llvmlite's and numba's compilation locks the calling thread holds.

    Examples
    --------
    >>> held_locks()
    0
    """
    return sum(bool(lock._is_owned()) for lock in _LOCKS)


def release_leaked_locks() -> int:
    """Release the compilation locks the calling thread holds (all their levels).

    Call it only where the thread cannot hold one legitimately: outside any compilation.
    Returns how many were held.

    Examples
    --------
    >>> release_leaked_locks()
    0
    """
    n = 0
    for lock in _LOCKS:
        if lock._is_owned():
            lock._release_save()
            n += 1
    return n


def deferrable(handler: Handler) -> Handler:
    """A signal handler that calls ``handler``, or, inside a :func:`section` of the main
    thread, records the signal and calls ``handler`` when the section ends.

    Examples
    --------
    >>> import signal
    >>> old = signal.signal(signal.SIGINT, deferrable(signal.default_int_handler))
    >>> _ = signal.signal(signal.SIGINT, old)
    """

    def handle(signum: int, frame: FrameType | None) -> Any:
        if _depth:
            _held.append((handler, signum))
            return None
        return handler(signum, frame)

    return handle


class _Section:
    __slots__ = ("_main",)

    def __enter__(self) -> None:
        global _depth
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            if not _depth and _LOCKS:
                release_leaked_locks()
            _depth += 1

    def __exit__(self, *exc: object) -> None:
        global _depth
        if self._main:
            _depth -= 1
            if not _depth and _held:
                handler, signum = _held[0]
                _held.clear()
                handler(signum, None)


def section() -> _Section:
    """A ``with`` block in which :func:`deferrable` handlers wait (main thread only; nested
    blocks wait for the outermost); on entering the outermost one the main thread's leaked
    compilation locks are released (:func:`release_leaked_locks`).

    Examples
    --------
    >>> import os, signal
    >>> got = []
    >>> old = signal.signal(signal.SIGUSR1, deferrable(lambda n, f: got.append(n)))
    >>> with section():
    ...     os.kill(os.getpid(), signal.SIGUSR1)
    ...     waited = list(got)
    >>> _ = signal.signal(signal.SIGUSR1, old)
    >>> waited, got == [signal.SIGUSR1]
    ([], True)
    """
    return _Section()
