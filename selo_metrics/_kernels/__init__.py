"""numba kernels (uint8 / int32 arrays in, plain loops); each has a numpy twin in
``selo_metrics._reference`` that the tests compare it with.

Parallelism: the kernels are ``nogil`` functions over a range of rows or columns, run on
contiguous chunks by a small thread pool (:func:`run_chunks`), instead of numba's
``parallel=True``, whose compilation costs several seconds per kernel. :class:`Jobs` runs
pieces of different work side by side on the same threads
(:mod:`selo_metrics.side_by_side`).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from ._cache import CACHE, cache_location
from .interrupts import release_leaked_locks, section

__all__ = ["CACHE", "Jobs", "available_cpus", "cache_location", "num_threads", "run_chunks"]


def available_cpus() -> int:
    """CPUs this process may run on (its affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def num_threads() -> int:
    """Threads the kernels use: ``SELO_NUM_THREADS``, else ``NUMBA_NUM_THREADS``, else CPUs.

    Raises
    ------
    ValueError
        The variable is set but is not a positive integer.
    """
    for var in ("SELO_NUM_THREADS", "NUMBA_NUM_THREADS"):
        value = os.environ.get(var)
        if value:
            try:
                n = int(value)
            except ValueError:
                n = 0
            if n < 1:
                raise ValueError(f"{var}={value!r}: expected a positive integer (the threads "
                                 "of the kernels), or unset it")
            return n
    return available_cpus()


@cache
def _pool(n: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="selo-kernel")


# A forked child inherits the pool object but not its threads: it must start its own, or it
# would wait forever on work no thread picks up (multiprocessing forks on Linux by default).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.cache_clear)


def run_chunks(func: Callable[..., Any], n: int, *args: Any, min_chunk: int = 64,
               threads: int | None = None) -> list[Any]:
    """Call ``func(*args, start, stop)`` on contiguous chunks of ``range(n)``, in parallel.

    Returns the results in chunk order. ``func`` must release the GIL (numba ``nogil``).
    The CLI's interrupts wait until the chunks are done (:mod:`.interrupts`).
    """
    k = min(threads or num_threads(), max(1, n // min_chunk))
    bounds = [(n * c // k, n * (c + 1) // k) for c in range(k)]
    if k == 1:
        return [func(*args, 0, n)]
    with section():
        futures = [_pool(k).submit(func, *args, a, b) for a, b in bounds]
        return [f.result() for f in futures]


#: a job: a callable of no arguments that returns the jobs it makes ready (or None)
Job = Callable[[], "Iterable[Job] | None"]


class Jobs:
    """Run jobs (callables of no arguments) on ``threads`` threads, the caller one of them.

    A job may return jobs it made ready (appended to the queue); :meth:`first` puts a job at
    the head. The jobs call the kernels on one thread each (never :func:`run_chunks`). The
    first exception stops the queue; :meth:`run` re-raises it once the running jobs end.

    Examples
    --------
    >>> done = []
    >>> jobs = Jobs(2)
    >>> jobs.add(lambda: done.append(1) or [lambda: done.append(2)])
    >>> jobs.run()
    >>> sorted(done)
    [1, 2]
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._queue: deque[Job] = deque()
        self._cv = threading.Condition()
        self._running = 0
        self._error: BaseException | None = None

    def add(self, job: Job) -> None:
        """Queue ``job`` last."""
        with self._cv:
            self._queue.append(job)
            self._cv.notify()

    def first(self, job: Job) -> None:
        """Queue ``job`` first (the next free thread takes it)."""
        with self._cv:
            self._queue.appendleft(job)
            self._cv.notify()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and self._running and self._error is None:
                    self._cv.wait()
                if self._error is not None or not self._queue:
                    self._cv.notify_all()
                    return
                job = self._queue.popleft()
                self._running += 1
            more: Iterable[Job] | None = None
            try:
                more = job()
            except BaseException as exc:
                with self._cv:
                    if self._error is None:
                        self._error = exc
                    self._queue.clear()
            with self._cv:
                self._running -= 1
                if more and self._error is None:
                    self._queue.extend(more)
                self._cv.notify_all()

    def run(self) -> None:
        """Run until the queue is empty and no job runs; re-raise a job's exception.

        The CLI's interrupts wait until the jobs are done (:mod:`.interrupts`); an interrupt
        of another handler (Ctrl-C in a notebook) that strikes a job on this thread stops
        the queue like an exception, and the compilation locks it may have left this thread
        holding are released before the helpers are waited for.
        """
        with section():
            helpers = [_pool(self.threads - 1).submit(self._loop)
                       for _ in range(self.threads - 1)]
            self._loop()
            if self._error is not None:
                release_leaked_locks()
            for f in helpers:
                f.result()
        if self._error is not None:
            raise self._error
