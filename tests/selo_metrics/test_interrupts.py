"""Interrupts and the kernels' threads (``selo_metrics._kernels.interrupts``).

A signal handler that raises can strike the main thread between a lock's acquire and the
``with`` block that releases it; ``selo-metrics score`` hung that way after a SIGTERM (the
main thread, running a job, kept llvmlite's lock; the helper thread, loading a kernel,
waited for it for ever). The leak is made here by hand, as the interrupt makes it
(``__enter__`` without ``__exit__``); what would hang runs in a child process with a
timeout, so that a regression fails instead of stopping the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from selo_metrics._kernels import Jobs, run_chunks
from selo_metrics._kernels.interrupts import deferrable, held_locks, release_leaked_locks, section
from selo_metrics.cli import _Interrupted, _interrupts

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


# a job or chunk on a helper thread that needs llvmlite's lock: a kernel compiled there
_FRESH_KERNEL = """
    import numba, threading
    from llvmlite.binding import ffi

    def fresh_kernel(*_):
        f = numba.njit(lambda x: x + 1)  # a new function: compiled on the calling thread
        return f(1)
"""


def test_a_lock_left_held_by_an_interrupt_does_not_stop_the_kernel_threads():
    # the main thread holds llvmlite's lock as an interrupt leaves it; the chunks run on
    # helper threads, which compile: they wait for ever unless the section releases it
    done = _child(_FRESH_KERNEL + """
    from selo_metrics._kernels import run_chunks
    from selo_metrics._kernels.interrupts import held_locks
    ffi.lib._lock.__enter__()
    assert held_locks() == 1
    print(run_chunks(fresh_kernel, 2, min_chunk=1, threads=2), held_locks())
    """, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[2,", "2]", "0"]


def test_an_interrupt_in_a_job_that_leaves_a_lock_held_stops_the_jobs_without_a_hang():
    # Ctrl-C in a notebook (a handler that is not deferrable) strikes the main thread's job
    # between llvmlite's acquire and its `with`: the job fails with the lock held, while
    # the helper thread's job compiles a kernel
    done = _child(_FRESH_KERNEL + """
    from selo_metrics._kernels import Jobs
    both = threading.Barrier(2, timeout=30)
    left = threading.Event()

    def job():
        both.wait()  # one job a thread
        if threading.current_thread() is threading.main_thread():
            ffi.lib._lock.__enter__()
            left.set()
            raise KeyboardInterrupt
        left.wait(30)
        fresh_kernel()

    jobs = Jobs(2)
    jobs.add(job)
    jobs.add(job)
    try:
        jobs.run()
    except KeyboardInterrupt:
        print("interrupted")
    """, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["interrupted"]


def test_held_locks_are_counted_and_released():
    from llvmlite.binding import ffi
    from numba.core.compiler_lock import global_compiler_lock

    assert held_locks() == 0
    ffi.lib._lock.__enter__()
    ffi.lib._lock.__enter__()  # two levels of the re-entrant lock
    global_compiler_lock.acquire()
    try:
        assert held_locks() == 2
    finally:
        assert release_leaked_locks() == 2
    assert held_locks() == 0
    seen = []
    t = threading.Thread(target=lambda: seen.append(ffi.lib._lock._lock.acquire(timeout=5)
                                                    and ffi.lib._lock._lock.release()))
    t.start()
    t.join()
    assert seen == [None]  # another thread takes it: every level was released


def _send_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    for _ in range(10_000):  # bytecodes: Python runs a pending handler at the first
        pass


def test_a_deferrable_handler_waits_for_the_outermost_section():
    got = []
    old = signal.signal(signal.SIGUSR1, deferrable(lambda n, _f: got.append(n)))
    try:
        with section():
            with section():
                _send_self(signal.SIGUSR1)
            inner = list(got)
            _send_self(signal.SIGUSR1)
            outer = list(got)
        assert (inner, outer, got) == ([], [], [signal.SIGUSR1])  # once: the first signal
        _send_self(signal.SIGUSR1)
        assert got == [signal.SIGUSR1] * 2  # outside a section: at once
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_a_section_of_another_thread_does_not_hold_the_main_threads_signals():
    got = []
    inside, leave = threading.Event(), threading.Event()

    def other():
        with section():
            inside.set()
            leave.wait(30)

    old = signal.signal(signal.SIGUSR1, deferrable(lambda n, _f: got.append(n)))
    t = threading.Thread(target=other)
    t.start()
    try:
        assert inside.wait(30)
        _send_self(signal.SIGUSR1)
        assert got == [signal.SIGUSR1]
    finally:
        leave.set()
        t.join()
        signal.signal(signal.SIGUSR1, old)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_clis_interrupts_wait_until_the_jobs_are_done(signum, threads):
    ran, first = [], threading.Lock()

    def job(i):
        def run():
            if first.acquire(blocking=False):  # the first job, on either thread: the main
                _send_self(signum)  # thread's handler would raise in its job or its wait
            ran.append(i)
        return run

    with _interrupts():
        jobs = Jobs(threads)
        for i in range(4):
            jobs.add(job(i))
        with pytest.raises(KeyboardInterrupt) as info:
            jobs.run()
        # and in run_chunks, whose main thread only waits
        with pytest.raises(KeyboardInterrupt):
            run_chunks(lambda a, b: _send_self(signum), 4, min_chunk=1, threads=2)
    assert sorted(ran) == [0, 1, 2, 3]  # every job ran to its end
    assert getattr(info.value, "signum", signal.SIGINT) == signum
    assert isinstance(info.value, _Interrupted) == (signum == signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
