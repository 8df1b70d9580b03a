"""Build the self-contained HTML report of one or more run directories (jinja2)."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..runner import fingerprint
from ..samples import Sample, load_samples
from . import figures, thumbs
from .model import (
    MAX_FAILURES,
    GalleryItem,
    RunView,
    columns,
    compare_items,
    gallery,
    load_views,
    rank_key,
    table_row,
)

__all__ = ["build_report", "render"]

RANK_LABELS = {"rmi": "Rmi", "iou": "IoU"}


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("selo_metrics.html", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _locate(run_dir: Path, path: str | None) -> str | None:
    """A path a run recorded, found now: as it is (absolute, or relative to this directory),
    else relative to the run directory or one of its parents. The runner records paths as
    they were given, relative to the directory the scoring ran in, which is usually an
    ancestor of the run directory (``selo-metrics score set.jsonl --out runs/a``)."""
    if not path or Path(path).exists():
        return path
    if not Path(path).is_absolute():
        for base in (run_dir, *run_dir.resolve().parents):
            if (base / path).exists():
                return str(base / path)
    return path


def _ground_truth(view: RunView) -> tuple[dict[int, Sample], str]:
    """The run's samples by index (for the GT outlines), or {} and why not."""
    run = view.summary.get("run", {})
    anno = _locate(view.path, run.get("anno"))
    if not anno:
        return {}, "the run does not name its annotation file"
    try:
        samples = load_samples(anno, _locate(view.path, run.get("maps_dir")))
    except (OSError, ValueError) as exc:
        return {}, f"its annotation file cannot be read now ({exc})"
    if view.fingerprint and fingerprint(samples) != view.fingerprint:
        return {}, f"{anno} changed since the run (its fingerprint differs)"
    return {s.index: s for s in samples}, ""


def _thumbnail(view: RunView, item: GalleryItem, gt: Callable[[], tuple[dict, str]]) -> None:
    try:
        if item.overlay and (view.path / item.overlay).is_file():
            item.thumb = thumbs.data_uri(thumbs.overlay_thumbnail(view.path / item.overlay))
            item.thumb_note = "the run's overlay"
            return
        map_path = _locate(view.path, item.map)
        if not map_path or not Path(map_path).is_file():
            item.thumb_note = f"no thumbnail: map file {item.map} is not there any more"
            return
        samples, why = gt()
        sample = samples.get(item.index)
        gt = None if sample is None else sample.load_gt()  # polygons, or an RRSIS mask
        item.thumb = thumbs.data_uri(thumbs.map_thumbnail(map_path, gt))
        item.thumb_note = (
            "the map, GT outlined" if sample is not None else f"the map (no GT outline: {why})"
        )
    except Exception as exc:  # a thumbnail never costs the report
        item.thumb = ""
        item.thumb_note = f"no thumbnail: {type(exc).__name__}: {exc}"


def _values(view: RunView, keys: Sequence[str]) -> dict[str, np.ndarray]:
    ok = [r for r in view.run.rows if r.get("error") is None]
    return {k: np.array([r[k] for r in ok if r.get(k) is not None], dtype=float) for k in keys}


def _progress(total: int, enabled: bool | None) -> Any:
    from tqdm import tqdm

    # disable=None: on only when stderr is a terminal (quiet in logs and CI)
    return tqdm(
        total=total,
        unit="image",
        desc="drawing",
        file=sys.stderr,
        leave=False,
        disable=None if enabled is None else not enabled,
        dynamic_ncols=True,
    )


def render(
    views: Sequence[RunView], *, n: int = 12, progress: bool | None = None, title: str | None = None
) -> str:
    """The report page of loaded runs, as an HTML string.

    Parameters
    ----------
    views : sequence of RunView
        From :func:`selo_metrics.html.model.load_views`.
    n : int
        Gallery size: the ``n`` worst and ``n`` best samples by Rmi (IoU for a run without
        the SeLo metrics) of each run, and with several runs the ``n`` samples whose Rmi
        differs most.
    progress : bool, optional
        A progress bar on stderr (default: only when stderr is a terminal).
    title : str, optional
        The page title (default: the run names).
    """
    cols = columns([v.summary for v in views])
    for v in views:
        v.rank = rank_key([v.summary])
        v.worst, v.best = gallery(v.run, n, v.rank)
    compared = compare_items(views, n)
    keys: list[str] = []  # the histograms: every per-sample metric but the pixel counts
    for v in views:
        keys += [k for k in v.run.row_metric_keys if k not in keys and k not in ("inter", "union")]
    per_run = [(v.name, _values(v, keys)) for v in views]
    jobs = [(v, it) for v in views for it in (*v.worst, *v.best)]
    jobs += [(v, it) for c in compared for v, it in zip(views, c.items, strict=True)]
    bar = _progress(len(jobs) + 2, progress)
    try:
        hist = figures.histograms(keys, per_run)
        bar.update(1)
        selo_runs = [(name, vals) for name, vals in per_run if len(vals.get("rmi", ()))]
        scat = figures.scatter(selo_runs) if selo_runs else ""
        bar.update(1)
        gts: dict[int, tuple[dict, str]] = {}

        def ground_truth(v: RunView) -> tuple[dict, str]:  # read once a run, when needed
            if id(v) not in gts:
                gts[id(v)] = _ground_truth(v)
            return gts[id(v)]

        drawn: dict[tuple[int, int], GalleryItem] = {}
        for v, item in jobs:
            key = (id(v), item.index)
            if key in drawn:  # the same sample in a gallery and the compare view
                item.thumb, item.thumb_note = drawn[key].thumb, drawn[key].thumb_note
            else:
                _thumbnail(v, item, functools.partial(ground_truth, v))
                drawn[key] = item
            bar.update(1)
    finally:
        bar.close()
    from .. import __version__

    names = [v.name for v in views]
    attribute_tables = []  # each run's own columns, as the terminal prints it
    for v in views:
        own = columns([v.summary])
        rows = [
            table_row(f"{a}={val}", stats, own)
            for a, groups in v.summary.get("by_attribute", {}).items()
            for val, stats in groups.items()
        ]
        attribute_tables.append((v.name, ["attribute", *(c.header for c in own)], rows))
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title or "selo-metrics report: " + ", ".join(names),
            header=["run", *(c.header for c in cols)],
            summary_rows=[table_row(v.name, v.summary, cols) for v in views],
            compare_label=RANK_LABELS[rank_key([v.summary for v in views])],
            rank_labels=RANK_LABELS,
            attribute_tables=attribute_tables,
            has_attributes=any(rows for _, _, rows in attribute_tables),
            views=views,
            compared=compared,
            n=n,
            histograms=hist,
            scatter=scat,
            max_failures=MAX_FAILURES,
            version=__version__,
            generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
    )


def build_report(
    run_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    gallery_size: int = 12,
    progress: bool | None = None,
    title: str | None = None,
) -> Path:
    """Write the self-contained HTML report of run directories to ``out``.

    Parameters
    ----------
    run_dirs : sequence of path-like
        Finished run directories (``selo-metrics score --out``).
    out : path-like
        The HTML file (replaced atomically if it exists).
    gallery_size : int
        The ``n`` of :func:`render`.
    progress : bool, optional
        A progress bar on stderr (default: only when stderr is a terminal).
    title : str, optional
        The page title.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    RunDirError
        A directory is not a finished run.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, selo_metrics
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> g = np.zeros((300, 300), np.uint8); g[100:200, 100:200] = 255
    >>> Image.fromarray(g).save(d / "a.png")
    >>> sample = selo_metrics.Sample(0, "a", str(d / "a.png"),
    ...                              [[[90, 90], [210, 90], [210, 210], [90, 210]]])
    >>> _ = selo_metrics.score_samples([sample], d / "run", workers=1)
    >>> page = build_report([d / "run"], d / "report.html", progress=False)
    >>> page.read_text().startswith("<!DOCTYPE html>")
    True
    """
    if gallery_size < 0:
        raise ValueError(f"gallery_size must be >= 0, got {gallery_size}")
    views = load_views(run_dirs)
    html = render(views, n=gallery_size, progress=progress, title=title)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
