"""Where the runner's samples are scored: in this process, a pool of worker processes, or Dask.

Each backend turns a list of samples into their ``samples.jsonl`` rows, in completion order,
with ``task(sample) -> row`` (:func:`selo_metrics.runner.score_sample` with the run's
settings). What they guarantee:

* **Workers end with the process that started them.** A worker watches its parent (a
  ``pidfd`` on Linux, else a poll every half second) and exits the moment the parent is gone,
  killed or not, so no worker, no forkserver and no pipe to the parent's output outlives a
  killed run. Workers ignore SIGINT: on Ctrl-C the parent decides, and stops them.
* **A dying worker costs no run.** When a worker process dies (the out-of-memory killer, a
  crash in a decoder, a stray ``kill``), the pool is restarted and the samples that were in
  flight are scored again one by one, each alone in a fresh worker: the one that kills its
  worker alone gets a failure row of its own (``WorkerDied``), the others their rows. Workers
  that keep dying whatever they score (3 in a row, each alone) stop the run with a
  :class:`WorkerError`. With Dask (:mod:`selo_metrics.dask_backend`, a task scores a batch
  of samples), each sample of a task whose workers died (``KilledWorker``) is submitted once
  more in a task of its own (it may only have run beside the culprit); a second time, it is
  the sample's failure row.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .samples import Sample

__all__ = ["WORKER_DIED", "WorkerError", "dask_rows", "pool_rows", "process_context",
           "serial_rows", "stop_pool", "submit", "worker_pool"]

#: the error type of a row whose sample's worker process died while scoring it
WORKER_DIED = "WorkerDied"
#: workers that die alone on this many samples in a row are not the samples' fault
_DEATHS_IN_A_ROW = 3

Task = Callable[[Sample], dict[str, Any]]


class WorkerError(RuntimeError):
    """The worker processes or the Dask cluster cannot go on (the rows written are kept)."""


def _watch_parent(parent_pid: int) -> None:
    """End this process as soon as ``parent_pid`` has exited (a daemon thread)."""
    try:
        fd = os.pidfd_open(parent_pid)  # Linux >= 5.3: readable once the process exits
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        fd = None
    ppid = os.getppid()

    def alive() -> bool:
        if os.getppid() != ppid:  # spawn / fork: our own parent is gone
            return False
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while alive():
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="selo-parent-watch", daemon=True).start()


def init_worker(parent_pid: int | None, threads: int) -> None:
    """Initializer of every worker process: kernel threads, SIGINT, the parent watch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["SELO_NUM_THREADS"] = str(max(1, threads))
    if parent_pid is not None:
        _watch_parent(parent_pid)


def process_context(preload: Sequence[str] = ("selo_metrics.runner",)) -> Any:
    """The multiprocessing context of worker pools: forkserver (or spawn), never fork.

    Forking a process that runs threads (numba's, tqdm's) is unsafe; the forkserver starts
    clean workers from a server that has imported ``preload`` once (:mod:`selo_metrics.runner`;
    a local Dask cluster adds ``distributed``). The list counts only before the server starts.
    """
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(list(preload))
    return ctx


def worker_pool(workers: int, threads: int = 1) -> ProcessPoolExecutor:
    """A process pool whose workers end with this process and ignore SIGINT."""
    ctx = process_context()
    with _interrupts_deferred(), _helpers_starting():
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                                   initargs=(os.getpid(), threads))
        if ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()
    return pool


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Python's SIGINT / SIGTERM handlers back until the block ends.

    An interrupt raised inside ``pool.submit`` can strike while a worker process is being
    started, leaving one the pool does not know of; it then fails to unpickle what the
    stopped pool released and prints a traceback. The handlers run (and raise) right after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):  # a Python handler (SIG_DFL / SIG_IGN are left alone)
            held[signum] = handler
            signal.signal(signum, lambda n, _frame: caught.append(n))
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
        for signum in caught:
            held[signum](signum, None)


@contextlib.contextmanager
def _helpers_starting() -> Iterator[None]:
    """SIGINT ignored while the resource tracker and the forkserver are started.

    An ignored SIGINT is what a process inherits across ``exec``: they then start, import
    :mod:`selo_metrics.runner` (a second) and fork the workers immune to a Ctrl-C sent to the
    terminal's process group, which only this process handles. A Ctrl-C in the few
    milliseconds of the start itself is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.SIG_DFL)


def submit(pool: ProcessPoolExecutor, fn: Callable[..., Any], *args: Any) -> Future:
    """``pool.submit``, with interrupts held back while it may start a worker process."""
    with _interrupts_deferred():
        return pool.submit(fn, *args)


def stop_pool(pool: ProcessPoolExecutor, *, wait_for_work: bool = False) -> list[int | None]:
    """Shut ``pool`` down; unless ``wait_for_work``, kill its workers at once.

    Returns the exit codes of its worker processes (None: still running).
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    if wait_for_work:
        pool.shutdown(wait=True)
        return [proc.exitcode for proc in procs]
    for proc in procs:  # first, so that none still starting reads what shutdown releases
        with contextlib.suppress(Exception):
            proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(5)
    return [proc.exitcode for proc in procs]


def serial_rows(todo: Sequence[Sample], task: Task) -> Iterator[dict[str, Any]]:
    """Score in this process."""
    for sample in todo:
        yield task(sample)


def _death(codes: Sequence[int | None]) -> str:
    code = next((c for c in codes if c), None)
    if code is None:
        return "died"
    if code < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-code).name
            hint = " (the out-of-memory killer sends it)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        return f"was killed by signal {-code}"
    if code == 255:
        # multiprocessing's forkserver reports 255 when it could not read the child's real
        # status (popen_forkserver.Popen.poll): seen here for workers killed by SIGKILL
        return ("died (status 255: its real status was lost, as happens when a signal such as "
                "the out-of-memory killer's SIGKILL ends it)")
    return f"exited with status {code}"


def died_row(sample: Sample, how: str, who: str = "the worker process scoring this sample "
             "alone") -> dict[str, Any]:
    """The failure row of a sample whose worker process died scoring it alone."""
    message = (f"{who} {how}; the map may need more memory than there is. Score it again "
               "with --retry-failed")
    return {"index": sample.index, "id": sample.id, "map": sample.map, "query": sample.query,
            "error": {"type": WORKER_DIED, "message": message}, "seconds": 0.0,
            **sample.attributes}


def _failure_row(sample: Sample, exc: BaseException) -> dict[str, Any]:
    return {"index": sample.index, "id": sample.id, "map": sample.map, "query": sample.query,
            "error": {"type": type(exc).__name__, "message": str(exc)}, "seconds": 0.0,
            **sample.attributes}


def _alone(sample: Sample, task: Task, threads: int) -> tuple[dict[str, Any] | None, str]:
    """Score one sample in a fresh worker of its own: (row, "") or (None, how it died)."""
    pool = worker_pool(1, threads)
    try:
        row = submit(pool, task, sample).result()
    except BrokenProcessPool:
        return None, _death(stop_pool(pool))
    except Exception as exc:  # the task raised (it should not): the sample's own failure
        row = _failure_row(sample, exc)
    except BaseException:
        stop_pool(pool)
        raise
    stop_pool(pool, wait_for_work=True)
    return row, ""


def _drain(pool: ProcessPoolExecutor, queue: deque[Sample], suspects: deque[Sample],
           workers: int, task: Task) -> Iterator[dict[str, Any]]:
    """Score the queue in ``pool``; on a worker's death, move the samples in flight to
    ``suspects`` and return."""
    pending: dict[Future, Sample] = {}

    def fill() -> bool:
        while queue and len(pending) < 2 * workers:  # bounded: 2 maps per worker in flight
            sample = queue.popleft()
            try:
                pending[submit(pool, task, sample)] = sample
            except BrokenProcessPool:
                queue.appendleft(sample)
                return False
        return True

    broken = not fill()
    while pending and not broken:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for fut in sorted(done, key=lambda f: pending[f].index):
            try:
                row = fut.result()
            except BrokenProcessPool:  # harvest the other finished rows, then stop
                broken = True
                continue
            except Exception as exc:  # the task raised (it should not)
                row = _failure_row(pending[fut], exc)
            del pending[fut]
            yield row
        broken = broken or not fill()
    suspects.extend(sorted(pending.values(), key=lambda s: s.index))


def pool_rows(todo: Sequence[Sample], task: Task, workers: int, threads: int
              ) -> Iterator[dict[str, Any]]:
    """Score in ``workers`` processes of ``threads`` kernel threads each.

    Raises
    ------
    WorkerError
        Worker processes died alone on 3 samples in a row.
    """
    queue: deque[Sample] = deque(todo)
    suspects: deque[Sample] = deque()
    deaths: list[str] = []
    while queue or suspects:
        if suspects:
            sample = suspects.popleft()
            row, how = _alone(sample, task, threads)
            if row is None:
                deaths.append(sample.id)
                if len(deaths) >= _DEATHS_IN_A_ROW:
                    raise WorkerError(
                        f"worker processes keep dying: each {how} scoring alone one of the "
                        f"samples {deaths}. Every finished row is saved; check the memory "
                        "available and re-run the same command to resume")
                row = died_row(sample, how)
            else:
                deaths.clear()
            yield row
            continue
        pool = worker_pool(min(workers, len(queue)), threads)
        clean = False
        try:
            for row in _drain(pool, queue, suspects, workers, task):
                deaths.clear()
                yield row
            clean = not suspects
        finally:
            stop_pool(pool, wait_for_work=clean)


def dask_rows(todo: Sequence[Sample], task: Task, address: str, workers: int
              ) -> Iterator[dict[str, Any]]:
    """Score on a dask.distributed cluster: :func:`selo_metrics.dask_backend.dask_rows`."""
    from .dask_backend import dask_rows as rows

    return rows(todo, task, address, workers)
