"""Score a whole test set into a run directory: per-sample rows, resume, workers, Dask.

The runner only orchestrates (read -> evaluate -> record); it computes no metric itself::

    Sample --read_map--> map --evaluate--> SeLoResult --row--> samples.jsonl --> summary.json

``RUN_DIR`` holds:

* ``run.json``: what the run scores (the test set's fingerprint, the convention and its
  parameters), written once; resuming with other inputs is refused.
* ``samples.jsonl``: one JSON object per sample, appended and flushed as each finishes
  (see :mod:`selo_metrics.journal`); ``error`` instead of metrics for a sample that could
  not be scored. Re-running resumes: recorded samples are skipped, failed ones are retried
  only with ``retry_failed`` (the new row is appended; the newest row of a sample counts).
* ``summary.json``: :func:`selo_metrics.report.summarize` of the newest row of every
  sample, in sample order, plus the run's settings; rewritten at the end of each run.
* ``overlays/``: one PNG per sample with ``overlays=True``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._kernels import available_cpus, num_threads
from ._workspace import reading_into
from .conventions import CONVENTIONS
from .errors import SeLoInputError
from .io import read_map
from .journal import Journal, RunDirError, read_rows, writing
from .loaded_run import LoadedRun
from .metrics import evaluate
from .report import check_summary, summarize
from .rrsis_run import parse_metrics, rrsis_row
from .rundir import check_rows, check_run_json, locked, make_run_dir, read_json, write_json
from .samples import ManifestError, Sample
from .workers import dask_rows, pool_rows, process_context, serial_rows

__all__ = ["RunDirError", "RunResult", "load_run", "process_context", "score_sample",
           "score_samples"]

_FORMAT = 1


@dataclass(frozen=True)
class RunResult:
    """What :func:`score_samples` did: the summary and this invocation's counts.

    ``stale_failures`` counts the failures recorded by an earlier invocation that were not
    scored again (``retry_failed`` was not given).
    """

    summary: dict[str, Any]
    run_dir: Path
    scored_now: int
    failed_now: int
    skipped: int
    dropped_torn_line: bool
    stale_failures: int = 0


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def _raise_hidden_interrupt(exc: BaseException) -> None:
    """Raise the interrupt (Ctrl-C or SIGTERM, as ``KeyboardInterrupt``; ``SystemExit``) that
    caused ``exc``, if one did: Python 3.11 wraps whatever is raised in ``__set_name__`` while
    a class is made, an interrupt too, in a ``RuntimeError`` (a signal that landed while
    Pillow imported a decoder's plugin left a sample with that error row, and a resumed run
    kept it). Such a failure is the run's interruption, not the sample's."""
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (KeyboardInterrupt, SystemExit)):
            raise cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__


def score_sample(sample: Sample, convention: str = "slm", params: dict[str, Any] | None = None,
                 overlay_dir: str | None = None, metrics: Sequence[str] = ("selo",),
                 rrsis_size: int | None = None) -> dict[str, Any]:
    """Score one sample and return its ``samples.jsonl`` row; never raises for bad input.

    Parameters
    ----------
    sample : Sample
        The map file and GT to score.
    convention : str
        ``"slm"`` (default) or ``"paper"``.
    params : dict, optional
        Constant overrides for :func:`selo_metrics.evaluate`.
    overlay_dir : str, optional
        Write an overlay PNG of the sample there (needs matplotlib).
    metrics : sequence of str
        The metric families: ``"selo"`` (default) and / or ``"rrsis"``.
    rrsis_size : int, optional
        Score the RRSIS metrics at this square size (RMSIN's protocol,
        :mod:`selo_metrics.rrsis_run`); default: the GT's own resolution.

    Returns
    -------
    dict
        ``index``, ``id``, ``map``, ``query``, then ``rsu``, ``ras``, ``rda``, ``rmi``,
        ``mask_area``, ``shape`` (SeLo) and ``iou``, ``inter``, ``union`` (RRSIS), or
        ``error`` (``{"type", "message"}``), ``seconds``, and the sample's attributes.

    Examples
    --------
    >>> row = score_sample(Sample(index=0, id="q0", map="missing.png", polygons=[]))
    >>> row["error"]["type"], row["error"]["message"]
    ('MapReadError', "sample 'q0': map file missing.png does not exist")
    """
    row: dict[str, Any] = {"index": sample.index, "id": sample.id, "map": sample.map,
                           "query": sample.query}
    t0 = time.perf_counter()
    try:
        with reading_into():  # the thread's reusable buffer: `gray` is dropped before the next
            gray = read_map(sample.map, sample_id=sample.id)
        result = rrsis = None
        if "selo" in metrics:
            polygons = sample.load_polygons()
            result = evaluate(gray, polygons, convention=convention, sample_id=sample.id,
                              **(params or {}))
        if "rrsis" in metrics:
            # a map file is 0..255 (value / 255) by definition: a nearly empty map's PNG
            # may hold only 0 and 1, which the in-memory API refuses as a mistyped mask
            rrsis = rrsis_row(gray, sample.load_gt(), size=rrsis_size, convention=convention,
                              sample_id=sample.id, check_01=False)
    except Exception as exc:  # every failure is the sample's own: record it, go on
        _raise_hidden_interrupt(exc)
        row["error"] = {"type": type(exc).__name__, "message": str(exc)}
        row["seconds"] = time.perf_counter() - t0
        row.update(sample.attributes)
        return row
    if result is not None:
        row.update(rsu=result.rsu, ras=result.ras, rda=result.rda, rmi=result.rmi,
                   mask_area=result.mask_area, shape=list(result.shape))
    row.update(rrsis or {})
    row["seconds"] = time.perf_counter() - t0
    row.update(sample.attributes)
    if overlay_dir is not None and result is not None:
        try:
            from .plot import save_overlay

            name = f"{sample.index:05d}_{_safe_name(sample.id)}.png"
            save_overlay(Path(overlay_dir) / name, gray, polygons, result,
                         title=sample.query)
            row["overlay"] = f"overlays/{name}"
        except Exception as exc:  # an overlay never costs the metrics
            row["overlay_error"] = f"{type(exc).__name__}: {exc}"
    return row


def fingerprint(samples: Sequence[Sample]) -> str:
    """A hash of what a test set scores (ids, queries, GT, map file names).

    Map directories are left out, so a moved maps folder still resumes.
    """
    h = hashlib.sha256()
    for s in samples:
        try:
            text = json.dumps([s.index, s.id, s.query, s.polygons, Path(s.map).name,
                               None if s.geojson is None else Path(s.geojson).name,
                               s.attributes, *([] if s.mask is None else [Path(s.mask).name])],
                              sort_keys=True, default=str)
        except RecursionError:
            raise ManifestError(f"sample {s.id!r}: its GT is nested too deeply") from None
        h.update(text.encode())
    return h.hexdigest()


def _attribute_names(samples: Sequence[Sample]) -> list[str]:
    names: list[str] = []
    for s in samples:
        names += [k for k in s.attributes if k not in names]
    return names


def score_samples(
    samples: Sequence[Sample],
    run_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    convention: str = "slm",
    params: dict[str, Any] | None = None,
    dask: str | None = None,
    overlays: bool = False,
    limit: int | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
    source: dict[str, Any] | None = None,
    metrics: Sequence[str] | str = ("selo",),
    rrsis_size: int | None = None,
) -> RunResult:
    """Score every sample into ``run_dir``, resuming what an earlier run recorded.

    Parameters
    ----------
    samples : sequence of Sample
        The test set (:func:`selo_metrics.load_samples`).
    run_dir : str or path-like
        The run directory (created; an existing one is resumed).
    workers : int, optional
        Worker processes (default: all cores; 1 scores in this process).
    convention : str
        ``"slm"`` (default, the official code) or ``"paper"``.
    params : dict, optional
        Constant overrides for :func:`selo_metrics.evaluate`.
    dask : str, optional
        A dask.distributed scheduler address, or ``"local"`` for a LocalCluster of
        ``workers`` processes.
    overlays : bool
        Write ``overlays/*.png`` (needs matplotlib).
    limit : int, optional
        Score (and summarise) the first ``limit`` samples only.
    retry_failed : bool
        Score again the samples whose newest row is a failure.
    progress : bool, optional
        Show a progress bar on stderr (default: only when stderr is a terminal).
    source : dict, optional
        Where the samples came from (annotation and maps paths), kept in the summary.
    metrics : sequence of str or str
        The metric families: ``("selo",)`` (default), ``("rrsis",)`` or both
        (``"selo,rrsis"``); the RRSIS family adds ``iou``, ``inter``, ``union`` to the rows
        and ``miou``, ``oiou``, ``prec@t`` to the summary.
    rrsis_size : int, optional
        Score the RRSIS metrics at this square size, as RMSIN (480); default: the GT's own
        resolution (:mod:`selo_metrics.rrsis_run`).

    Returns
    -------
    RunResult
        With ``summary``: the dict written to ``summary.json``.

    Raises
    ------
    RunDirError
        ``run_dir`` is not a writable directory, holds a run of another test set or
        convention, its journal is damaged before its last line or holds rows of other
        samples, another run is writing to it, or a write failed (a full disk).
    SeLoInputError
        ``SELO_NUM_THREADS`` is not a positive integer.
    WorkerError
        Worker processes keep dying, or the Dask scheduler cannot be reached.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> g = np.zeros((300, 300), np.uint8); g[100:200, 100:200] = 255
    >>> Image.fromarray(g).save(d / "a.png")
    >>> square = [[[90, 90], [210, 90], [210, 210], [90, 210]]]
    >>> samples = [Sample(0, "a", str(d / "a.png"), square),
    ...            Sample(1, "b", str(d / "missing.png"), square)]
    >>> res = score_samples(samples, d / "run", workers=1)
    >>> res.summary["scored"], res.summary["failed"], round(res.summary["rmi"], 4)
    (1, 1, 0.9987)
    >>> score_samples(samples, d / "run", workers=1).skipped   # resumed: nothing to do
    2
    """
    workers = _check_settings(convention, workers, limit, overlays)
    metrics = parse_metrics(metrics)
    if rrsis_size is not None and ("rrsis" not in metrics or rrsis_size < 1):
        raise ValueError(f"rrsis_size {rrsis_size} needs the rrsis metrics and a size >= 1")
    run_dir = Path(run_dir)
    params = dict(params or {})
    scope = list(samples[:limit] if limit is not None else samples)
    settings = {"format": _FORMAT, "fingerprint": fingerprint(samples),
                "convention": convention, "params": params, "samples": len(samples),
                "metrics": list(metrics), "rrsis_size": rrsis_size}
    t_start = time.perf_counter()
    make_run_dir(run_dir)
    with locked(run_dir):
        check_run_json(run_dir, settings)
        journal_path = run_dir / "samples.jsonl"
        if os.path.lexists(journal_path):  # checked before the journal is touched
            check_rows(read_rows(journal_path)[0], samples, journal_path)
        with Journal(journal_path) as journal:
            latest = journal.latest()
            failed_before = {s.index for s in scope
                             if latest.get(s.index, {}).get("error") is not None}
            todo = [s for s in scope if s.index not in latest
                    or (retry_failed and s.index in failed_before)]
            overlay_dir = None
            if overlays:
                overlay_dir = str(run_dir / "overlays")
                with writing(overlay_dir, "create"):
                    Path(overlay_dir).mkdir(exist_ok=True)
            task = functools.partial(score_sample, convention=convention, params=params,
                                     overlay_dir=overlay_dir, metrics=metrics,
                                     rrsis_size=rrsis_size)
            if dask is not None:
                rows, backend = dask_rows(todo, task, dask, workers), f"dask {dask}"
            elif workers == 1 or len(todo) <= 1:
                rows, backend = serial_rows(todo, task), "1 process"
            else:
                rows = pool_rows(todo, task, min(workers, len(todo)),
                                 available_cpus() // workers)
                backend = f"{workers} processes"
            scored, failed = _record(rows, journal, len(todo), progress)
            latest = journal.latest()
            dropped = journal.dropped_torn_line
        in_scope = [latest[s.index] for s in scope if s.index in latest]
        summary = summarize(in_scope, attributes=_attribute_names(scope), metrics=metrics)
        summary["pending"] = len(scope) - len(in_scope)
        summary["run"] = {
            **(source or {}),
            "convention": convention,
            "params": params,
            "metrics": list(metrics),
            "rrsis_size": rrsis_size,
            "samples_in_test_set": len(samples),
            "limit": limit,
            "backend": backend,
            "wall_seconds_this_invocation": time.perf_counter() - t_start,
            "scored_this_invocation": scored,
            "failed_this_invocation": failed,
            "selo_metrics_version": _version(),
        }
        write_json(run_dir / "summary.json", summary)
    stale = 0 if retry_failed else len(failed_before)
    return RunResult(summary, run_dir, scored, failed, len(scope) - len(todo), dropped, stale)


def _check_settings(convention: str, workers: int | None, limit: int | None,
                    overlays: bool) -> int:
    """Refuse settings that cannot run, before anything is written; the worker count."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose from {list(CONVENTIONS)}")
    if workers is None:
        workers = available_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
    try:
        num_threads()  # a bad SELO_NUM_THREADS: one error now, not one per sample
    except ValueError as exc:
        raise SeLoInputError(str(exc)) from None
    if overlays:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise RunDirError("--overlays needs matplotlib: pip install 'selo-metrics[plot]'"
                              ) from None
    return workers


def _record(rows: Any, journal: Journal, total: int, progress: bool | None
            ) -> tuple[int, int]:
    """Append each row to the journal as it comes; (scored, failed)."""
    scored = failed = 0
    bar = _progress(total, progress)
    # closing: on an interrupt or a failed write, the workers are stopped at once
    with contextlib.closing(rows):
        try:
            for row in rows:
                journal.append(row)
                if row.get("error") is None:
                    scored += 1
                else:
                    failed += 1
                bar.update(1)
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
        finally:
            bar.close()
    return scored, failed


def _version() -> str:
    from . import __version__

    return __version__


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool | None) -> Any:
    if enabled is False or total == 0:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency; stay usable without it
        return _NoBar()
    # disable=None: on only when stderr is a terminal (quiet in logs and CI)
    return tqdm(total=total, unit="map", desc="scoring", file=sys.stderr, dynamic_ncols=True,
                disable=None if enabled is None else False, smoothing=0.1)


def load_run(run_dir: str | os.PathLike) -> LoadedRun:
    """The summary and the newest row of every sample of a finished run directory.

    Returns a :class:`~selo_metrics.loaded_run.LoadedRun`: it unpacks as ``summary, rows``
    and gives a pandas table with ``to_frame()``.

    Raises
    ------
    RunDirError
        No ``summary.json`` (the run never finished), a damaged summary or journal.
    """
    run_dir = Path(run_dir)
    path = run_dir / "summary.json"
    if not os.path.lexists(path):
        raise RunDirError(f"{run_dir} has no summary.json: not a finished run directory "
                          "(run `selo-metrics score` into it first)")
    summary = read_json(path)
    problem = check_summary(summary)
    if problem is not None:
        raise RunDirError(f"{path} is damaged: {problem}")
    journal_path = run_dir / "samples.jsonl"
    # read only: a torn last line (a run in progress or killed) is left out, not repaired
    rows = read_rows(journal_path)[0] if os.path.lexists(journal_path) else []
    latest = {r["index"]: r for r in rows}
    return LoadedRun(summary, [latest[i] for i in sorted(latest)])
