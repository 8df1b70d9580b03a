"""Tasks for the worker tests: score a sample, or kill the worker process on chosen samples."""

from __future__ import annotations

import os
import signal
from typing import Any

from selo_metrics.runner import score_sample
from selo_metrics.samples import Sample


def score_or_die(sample: Sample, poison: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``score_sample``, except that the worker process kills itself on a poisoned sample."""
    if sample.id in poison:
        os.kill(os.getpid(), signal.SIGKILL)
    return score_sample(sample)


def dask_settings(sample: Sample) -> dict[str, Any]:
    """The Dask settings the worker running this task sees (``sample`` is unused)."""
    import dask

    keys = ("distributed.worker.profile.enabled", "distributed.worker.memory.monitor-interval",
            "distributed.worker.multiprocessing-method")
    return {k: dask.config.get(k) for k in keys}


def task_key(sample: Sample) -> dict[str, Any]:
    """Which Dask task scored ``sample`` (its key), with a made-up time of 0.05 s."""
    from distributed.worker import thread_state

    return {"index": sample.index, "id": sample.id, "seconds": 0.05,
            "key": str(thread_state.key)}


def die_once(sample: Sample, poison: frozenset[str], marks: str) -> dict[str, Any]:
    """``score_or_die``, but a poisoned sample kills its worker only the first time (a file in
    ``marks`` remembers it)."""
    mark = os.path.join(marks, sample.id)
    if sample.id in poison and not os.path.exists(mark):
        open(mark, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return score_sample(sample)
