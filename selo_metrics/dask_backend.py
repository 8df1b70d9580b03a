"""The Dask backend of the runner: score samples on a dask.distributed cluster.

``--dask local`` starts a LocalCluster of worker processes forked from the runner's
forkserver, with Dask's profiler off and its monitors slowed down; ``--dask ADDRESS`` uses a
running cluster with its own settings. Either way a Dask task scores a *batch* of samples,
about :data:`DASK_TASK_SECONDS` of work: the scheduler, the client and each worker's event
loop spend some 15-20 ms of CPU per task (measured with ``benchmarks/probe_dask.py``:
docs/performance.md), 10-15 % of a typical 0.1 s map when each map is a task of its own. The
first tasks (before any time is known) and the last ``4 * workers`` hold one sample each, so
that the workers finish together.

Failures stay per sample: :func:`selo_metrics.runner.score_sample` records a sample's own
error in its row. A batch whose workers died (``KilledWorker``) is split, each of its samples
scored once more in a task of its own (it may only have run beside the culprit); a sample
whose own task meets ``KilledWorker`` a second time gets a ``WorkerDied`` row.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import statistics
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from .samples import Sample
from .workers import Task, WorkerError, _helpers_starting, died_row, process_context

__all__ = ["DASK_TASK_SECONDS", "LOCAL_CLUSTER_CONFIG", "QUIET_MONITORS", "dask_rows",
           "score_batch"]

#: how long a Dask client waits for its scheduler
DASK_CONNECT_TIMEOUT = 5
#: seconds of work one Dask task is given (a batch of samples)
DASK_TASK_SECONDS = 1.0
#: at most this many samples in one Dask task
DASK_MAX_BATCH = 64

#: the Dask settings of a ``--dask local`` cluster (measured: docs/performance.md)
LOCAL_CLUSTER_CONFIG = {
    # workers forked from the forkserver, which has imported distributed and the runner
    # once: started in a fraction of a second each, and closed at once (spawned: 1-2 s each)
    "distributed.worker.multiprocessing-method": "forkserver",
}
#: monitors a batch run does not need so often: idle, the two workers, their nannies and the
#: scheduler took 9.6 % of a core with Dask's defaults, 2.0 % with these
QUIET_MONITORS = {
    # the statistical profiler samples every thread's stack 100 times a second
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "500ms",  # default 100ms
    "distributed.admin.system-monitor.interval": "2s",  # default 500ms
    "distributed.admin.tick.interval": "200ms",  # default 20ms
}


def _dask_worker_setup() -> None:
    os.environ["SELO_NUM_THREADS"] = "1"  # one task per worker thread


def _dask_client(stack: contextlib.ExitStack, address: str, workers: int) -> Any:
    if address == "local":
        ctx = process_context(preload=["distributed", "selo_metrics.runner"])
        forked = ctx.get_start_method() == "forkserver"
        if forked:
            from multiprocessing import forkserver

            # first: the server imports distributed while this process does the same
            with _helpers_starting():
                forkserver.ensure_running()
        import dask
        from distributed import Client, LocalCluster

        with dask.config.set({**QUIET_MONITORS, **(LOCAL_CLUSTER_CONFIG if forked else {})}):
            if forked:
                # distributed would otherwise import pandas & co. here to preload them in a
                # server that runs already
                with contextlib.suppress(ImportError):
                    import distributed.utils

                    distributed.utils._forkserver_preload_set = True
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=40))
        return stack.enter_context(Client(cluster))
    from distributed import Client

    try:
        return stack.enter_context(Client(address, timeout=f"{DASK_CONNECT_TIMEOUT}s"))
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkerError(f"cannot reach the Dask scheduler at {address!r} within "
                          f"{DASK_CONNECT_TIMEOUT} s ({first})") from None


def score_batch(task: Task, samples: Sequence[Sample]) -> list[Any]:
    """The rows of ``samples``, scored one after another: what one Dask task runs.

    Examples
    --------
    >>> score_batch(lambda s: s.id, [Sample(0, "a", "a.png", []), Sample(1, "b", "b.png", [])])
    ['a', 'b']
    """
    return [task(sample) for sample in samples]


def batch_size(remaining: int, workers: int, seconds: Sequence[float]) -> int:
    """How many samples the next Dask task scores.

    About :data:`DASK_TASK_SECONDS` of work at the median time per sample so far
    (``seconds``), at most :data:`DASK_MAX_BATCH`; 1 while no time is known, and at most
    ``remaining // (4 * workers)``, so that the last tasks hold one sample each.

    Examples
    --------
    >>> batch_size(1000, 2, [])              # no time yet
    1
    >>> batch_size(1000, 2, [0.1, 0.12, 0.3])  # 1 s of work at 0.12 s a sample
    8
    >>> batch_size(20, 2, [0.1])             # near the end: 20 // 8
    2
    """
    if not seconds:
        return 1
    per_sample = max(statistics.median(seconds), 1e-3)
    by_time = int(DASK_TASK_SECONDS / per_sample)
    return max(1, min(by_time, remaining // (4 * workers), DASK_MAX_BATCH))


def _names(batch: Sequence[Sample]) -> str:
    if len(batch) == 1:
        return f"sample {batch[0].id!r}"
    return f"samples {batch[0].id!r} to {batch[-1].id!r} (one task of {len(batch)})"


def dask_rows(todo: Sequence[Sample], task: Task, address: str, workers: int
              ) -> Iterator[dict[str, Any]]:
    """Score on a dask.distributed cluster (``address``, or ``"local"``: a LocalCluster).

    Rows come in completion order, a batch at a time (:func:`batch_size`).

    Raises
    ------
    WorkerError
        dask.distributed is missing, the scheduler cannot be reached, or the cluster fails.
    """
    if importlib.util.find_spec("distributed") is None:
        raise WorkerError("--dask needs dask.distributed: pip install 'selo-metrics[dask]'")
    with contextlib.ExitStack() as stack:
        try:
            client = _dask_client(stack, address, workers)
            from distributed import as_completed
            from distributed.scheduler import KilledWorker
        except ImportError as exc:
            raise WorkerError(f"--dask needs dask.distributed, which cannot be imported ({exc}): "
                              "pip install 'selo-metrics[dask]'") from None
        client.run(_dask_worker_setup)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        queue: deque[Sample] = deque(todo)
        alone: deque[Sample] = deque()  # samples of a killed batch, each in a task of its own
        pending: dict[Any, list[Sample]] = {}
        killed: set[int] = set()  # samples whose task met KilledWorker once
        seconds: list[float] = []
        # results are fetched as soon as they are ready: a result left on a worker that then
        # dies is lost, and its task counts as one more that its worker died running
        ac = as_completed(with_results=True, raise_errors=False)

        def submit() -> None:
            if alone:
                batch = [alone.popleft()]
            else:
                size = batch_size(len(queue), n_workers, seconds)
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
            if batch:
                fut = client.submit(score_batch, task, batch, pure=False)
                pending[fut] = batch
                ac.add(fut)

        for _ in range(2 * n_workers):  # bounded: 2 tasks per worker in flight
            submit()
        for fut, result in ac:
            batch = pending.pop(fut)
            if fut.status == "finished":  # the rows came with it: no second fetch
                rows = result
            else:
                try:
                    fut.result()  # raises the task's exception (nothing to fetch)
                except KilledWorker as exc:
                    if len(batch) > 1 or batch[0].index not in killed:
                        # maybe only beside the culprit: each once more, alone
                        killed.update(s.index for s in batch)
                        alone.extend(batch)
                        fut.release()
                        submit()
                        continue
                    rows = [died_row(batch[0], f"died ({exc})",
                                     "the Dask workers running this task")]
                except Exception as exc:
                    raise WorkerError(
                        f"the Dask cluster failed while scoring {_names(batch)}: "
                        f"{type(exc).__name__}: {exc}. Every finished row is saved; re-run "
                        "the same command to resume") from None
                else:
                    raise WorkerError(f"the Dask task of {_names(batch)} ended as "
                                      f"{fut.status!r}")
            fut.release()
            seconds.extend(row["seconds"] for row in rows
                           if isinstance(row, dict) and isinstance(row.get("seconds"), float))
            submit()
            yield from rows
