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
import hashlib
import json
import multiprocessing as mp
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._kernels import available_cpus
from .conventions import CONVENTIONS
from .io import read_map
from .journal import Journal, RunDirError, read_rows
from .loaded_run import LoadedRun
from .metrics import evaluate
from .report import summarize
from .rrsis_run import parse_metrics, rrsis_row
from .samples import Sample

__all__ = ["RunDirError", "RunResult", "load_run", "score_sample", "score_samples"]

_FORMAT = 1


@dataclass(frozen=True)
class RunResult:
    """What :func:`score_samples` did: the summary and this invocation's counts."""

    summary: dict[str, Any]
    run_dir: Path
    scored_now: int
    failed_now: int
    skipped: int
    dropped_torn_line: bool


def _init_worker(threads: int) -> None:
    # each worker process gets its share of the cores for the numba kernels
    os.environ["SELO_NUM_THREADS"] = str(max(1, threads))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


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
        gray = read_map(sample.map, sample_id=sample.id)
        result = rrsis = None
        if "selo" in metrics:
            polygons = sample.load_polygons()
            result = evaluate(gray, polygons, convention=convention, sample_id=sample.id,
                              **(params or {}))
        if "rrsis" in metrics:
            rrsis = rrsis_row(gray, sample.load_gt(), size=rrsis_size, convention=convention,
                              sample_id=sample.id)
    except Exception as exc:  # every failure is the sample's own: record it, go on
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
        h.update(json.dumps([s.index, s.id, s.query, s.polygons, Path(s.map).name,
                             None if s.geojson is None else Path(s.geojson).name,
                             s.attributes, *([] if s.mask is None else [Path(s.mask).name])],
                            sort_keys=True, default=str).encode())
    return h.hexdigest()


def _check_run_json(run_dir: Path, settings: dict[str, Any]) -> None:
    path = run_dir / "run.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise RunDirError(f"{path} is damaged; use a new run directory") from None
        old = {"metrics": ["selo"], "rrsis_size": None, **old}  # runs before RRSIS
        for key in ("fingerprint", "convention", "params", "metrics", "rrsis_size"):
            if old.get(key) != settings[key]:
                what = {"fingerprint": "a different test set (annotations or map names)",
                        "convention": f"convention {old.get('convention')!r}",
                        "params": f"parameters {old.get('params')}",
                        "metrics": f"metrics {','.join(old['metrics'])}",
                        "rrsis_size": f"--rrsis-size {old['rrsis_size']}"}[key]
                raise RunDirError(
                    f"{run_dir} holds a run of {what}; resuming into it would mix results. "
                    "Use a new --out directory"
                )
        return
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings, indent=1))
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    import fcntl

    with open(run_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"another run is writing to {run_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _serial(todo: list[Sample], task: Callable[[Sample], dict[str, Any]]
            ) -> Iterator[dict[str, Any]]:
    for sample in todo:
        yield task(sample)


def process_context() -> Any:
    """The multiprocessing context of worker pools: forkserver (or spawn), never fork.

    Forking a process that runs threads (numba's, tqdm's) is unsafe; the forkserver starts
    clean workers from a server that has imported :mod:`selo_metrics.runner` once.
    """
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["selo_metrics.runner"])
    return ctx


def _processes(todo: list[Sample], workers: int, threads: int, args: tuple
               ) -> Iterator[dict[str, Any]]:
    ctx = process_context()
    pending: dict[Future, Sample] = {}
    queue = iter(todo)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        def submit() -> None:
            sample = next(queue, None)
            if sample is not None:
                pending[pool.submit(score_sample, sample, *args)] = sample

        for _ in range(2 * workers):  # bounded: at most 2 maps per worker in flight
            submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                sample = pending.pop(fut)
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    lost = sorted([sample.id, *(s.id for s in pending.values())])
                    raise RunDirError(
                        f"a worker process died (out of memory or killed) while scoring "
                        f"samples {lost}; every finished row is saved: re-run to resume, "
                        "or use --workers 1 to find the sample"
                    ) from None
                submit()
                yield row


def _dask(todo: list[Sample], address: str, workers: int, args: tuple
          ) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RunDirError("--dask needs dask.distributed: pip install 'selo-metrics[dask]'"
                          ) from None
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=40))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address))
        client.run(_init_worker, 1)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        queue = iter(todo)
        ac = as_completed()

        def submit() -> None:
            sample = next(queue, None)
            if sample is not None:
                ac.add(client.submit(score_sample, sample, *args, pure=False))

        for _ in range(2 * n_workers):
            submit()
        for fut in ac:
            row = fut.result()
            fut.release()
            submit()
            yield row


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
        ``run_dir`` holds a run of another test set or convention, its journal is
        damaged before its last line, another run is writing to it, or a worker died.

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
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose from {list(CONVENTIONS)}")
    if workers is None:
        workers = available_cpus()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    metrics = parse_metrics(metrics)
    if rrsis_size is not None and ("rrsis" not in metrics or rrsis_size < 1):
        raise ValueError(f"rrsis_size {rrsis_size} needs the rrsis metrics and a size >= 1")
    if overlays:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise RunDirError("--overlays needs matplotlib: pip install 'selo-metrics[plot]'"
                              ) from None
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    params = dict(params or {})
    scope = list(samples[:limit] if limit is not None else samples)
    settings = {"format": _FORMAT, "fingerprint": fingerprint(samples),
                "convention": convention, "params": params, "samples": len(samples),
                "metrics": list(metrics), "rrsis_size": rrsis_size}
    t_start = time.perf_counter()
    with _locked(run_dir):
        _check_run_json(run_dir, settings)
        with Journal(run_dir / "samples.jsonl") as journal:
            latest = journal.latest()
            todo = [s for s in scope if s.index not in latest
                    or (retry_failed and latest[s.index].get("error") is not None)]
            overlay_dir = None
            if overlays:
                overlay_dir = str(run_dir / "overlays")
                Path(overlay_dir).mkdir(exist_ok=True)
            args = (convention, params, overlay_dir, metrics, rrsis_size)
            cores = available_cpus()
            if dask is not None:
                rows = _dask(todo, dask, workers, args)
                backend = f"dask {dask}"
            elif workers == 1 or len(todo) <= 1:
                rows = _serial(todo, lambda s: score_sample(s, *args))
                backend = "1 process"
            else:
                rows = _processes(todo, min(workers, len(todo)), cores // workers, args)
                backend = f"{workers} processes"
            scored = failed = 0
            bar = _progress(len(todo), progress)
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
        tmp = run_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False))
        os.replace(tmp, run_dir / "summary.json")
    return RunResult(summary, run_dir, scored, failed, len(scope) - len(todo), dropped)


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
        No ``summary.json`` (the run never finished) or a damaged journal.
    """
    run_dir = Path(run_dir)
    path = run_dir / "summary.json"
    if not path.exists():
        raise RunDirError(f"{run_dir} has no summary.json: not a finished run directory "
                          "(run `selo-metrics score` into it first)")
    summary = json.loads(path.read_text())
    journal_path = run_dir / "samples.jsonl"
    # read only: a torn last line (a run in progress or killed) is left out, not repaired
    rows = read_rows(journal_path)[0] if journal_path.exists() else []
    latest = {r["index"]: r for r in rows}
    return LoadedRun(summary, [latest[i] for i in sorted(latest)])
