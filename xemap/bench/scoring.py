"""The bench's scorings: the control's query pairing, maps into ordinary run directories,
and metric blocks.

Each scoring of a model (untrained, trained, trained with another scene's query) goes through
the same runner as ``selo-metrics score``: the maps are written as 8-bit PNGs with a manifest
(``manifest.jsonl``: ``id``, ``map``, ``polygons``, ``query``, ``attributes: {"kind"}``) and
scored by :func:`selo_metrics.score_samples` into the same folder, so ``selo-metrics compare``
reads it and ``selo-metrics score RUN/manifest.jsonl --out RUN`` finds it complete.

Scoring scale: the maps come out at the scene size (64 px by default), but the SeLo metrics'
attention stage uses 50 px box filters and a 1000 px window, meant for 1k-10k px scenes. So
each map is upsampled (bilinear) to ``score_size`` (1024) px and the polygons are mapped to
the same pixel grid (``x' = (x + 0.5) * s - 0.5``); every map and every polygon get the same
treatment, whatever the model.

A metric block is ``{"rmi", "rsu", "ras", "rda", "n", "per_kind": {kind: {the same keys}}}``
(``n``: maps scored). The metric keys come from `METRIC_KEYS` by metric family, so a family
the runner adds (the RRSIS ``"miou"``, ``"oiou"``, ``"prec@0.5"``...) is one entry there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selo_metrics.rrsis_run import RRSIS_COLUMNS
from xemap.engine.evaluate import _scale_polygons, _upsample

__all__ = [
    "METRIC_KEYS",
    "control_pairing",
    "control_samples",
    "metric_block",
    "metric_keys",
    "score_run",
]

#: metric family -> the keys it gives to a block (and to the table, in this order); the
#: families are those of ``selo-metrics score --metrics``
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "selo": ("rmi", "rsu", "ras", "rda"),
    "rrsis": tuple(key for key, _ in RRSIS_COLUMNS),  # miou, oiou, prec@0.5 .. prec@0.9
}


def metric_keys(families: Sequence[str] = ("selo",)) -> tuple[str, ...]:
    """The block keys of the metric ``families``, in table order.

    Examples
    --------
    >>> metric_keys()
    ('rmi', 'rsu', 'ras', 'rda')
    """
    unknown = [f for f in families if f not in METRIC_KEYS]
    if unknown:
        raise ValueError(f"unknown metric families {unknown}; known: {sorted(METRIC_KEYS)}")
    return tuple(k for f in families for k in METRIC_KEYS[f])


def control_pairing(samples: Sequence[Mapping[str, Any]]) -> list[int]:
    """For each sample, the index of the sample whose query the control gives it.

    The partner is the next sample of the same ``kind`` (cyclically) whose ``scene`` differs
    and whose query text differs from the sample's own; when a kind has no such sample, the
    next such sample of any kind. So a sample never gets its own query, nor the same words
    from elsewhere. Deterministic: no random draw.

    Raises
    ------
    ValueError
        When some sample has no partner (fewer than two scenes, or all queries equal).

    Examples
    --------
    >>> s = [{"scene": i, "kind": k, "query": q}
    ...      for i, (k, q) in enumerate([("a", "x"), ("b", "y"), ("a", "z"), ("a", "x")])]
    >>> control_pairing(s)
    [2, 2, 3, 2]
    """
    n = len(samples)

    def ok(i: int, j: int) -> bool:
        a, b = samples[i], samples[j]
        return a.get("scene", i) != b.get("scene", j) and a["query"] != b["query"]

    out = []
    for i, s in enumerate(samples):
        order = [(i + d) % n for d in range(1, n)]
        same = [j for j in order if samples[j].get("kind") == s.get("kind") and ok(i, j)]
        other = [j for j in order if ok(i, j)]
        if not (same or other):
            raise ValueError(
                f"sample {s.get('id', i)!r}: no other scene with another query for the control"
            )
        out.append((same or other)[0])
    return out


def control_samples(samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The control set: each sample with its partner's query (`control_pairing`); image,
    polygons and everything else stay the sample's own.

    Examples
    --------
    >>> s = [{"scene": i, "kind": "a", "query": q} for i, q in enumerate("xyz")]
    >>> [c["query"] for c in control_samples(s)]
    ['y', 'z', 'x']
    """
    pairs = control_pairing(samples)
    return [{**s, "query": samples[j]["query"]} for s, j in zip(samples, pairs, strict=True)]


def score_run(
    maps: Sequence[np.ndarray],
    samples: Sequence[Mapping[str, Any]],
    run_dir: str | Path,
    *,
    score_size: int = 1024,
    workers: int = 1,
    metrics: Sequence[str] = ("selo",),
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``maps`` into ``run_dir`` (PNGs + manifest) and score them with the runner.

    Parameters
    ----------
    maps : sequence of ndarray
        float maps in [0, 1], each at its sample's scene size.
    samples : sequence of dict
        ``id``, ``polygons`` (scene pixels), ``query``, ``kind``.
    run_dir : str or Path
        A new folder (an existing ``manifest.jsonl`` there is refused: nothing is
        overwritten). Gets ``maps/probmap_{i}.png`` (``score_size`` px,
        ``uint8(rint(255 * map))``), ``manifest.jsonl`` and the runner's ``run.json``,
        ``samples.jsonl``, ``summary.json``.
    score_size : int
        Side of the written maps (see the module docstring).
    workers : int
        Runner worker processes.
    metrics : sequence of str
        Metric families the runner scores (``"selo"``, ``"rrsis"``: mIoU, oIoU, prec@t of the
        map thresholded at 0.5, at the written maps' size).
    source : dict, optional
        Kept in ``summary.json``'s ``run`` record.

    Returns
    -------
    dict
        The runner's summary (``summary.json``).

    Examples
    --------
    >>> import tempfile
    >>> m = np.zeros((64, 64), np.float32); m[10:20, 10:20] = 1
    >>> s = {"id": "a", "kind": "attribute", "query": "the red square",
    ...      "polygons": [[[10, 10], [19, 10], [19, 19], [10, 19]]]}
    >>> summary = score_run([m], [s], tempfile.mkdtemp() + "/run", score_size=512)
    >>> summary["scored"], summary["rmi"] > 0.9
    (1, True)
    """
    from PIL import Image

    import selo_metrics
    from selo_metrics.samples import write_manifest

    run_dir = Path(run_dir)
    manifest = run_dir / "manifest.jsonl"
    if manifest.exists():
        raise ValueError(f"{run_dir} already holds a scoring (manifest.jsonl); choose a new folder")
    if len(maps) != len(samples):
        raise ValueError(f"{len(maps)} maps for {len(samples)} samples")
    (run_dir / "maps").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (m, s) in enumerate(zip(maps, samples, strict=True)):
        big, scale = _upsample(m, score_size)
        name = f"maps/probmap_{i}.png"
        Image.fromarray(np.rint(255.0 * big).astype(np.uint8)).save(run_dir / name)
        rows.append(
            {
                "id": str(s.get("id", i)),
                "map": name,
                "polygons": _scale_polygons(s["polygons"], scale),
                "query": s.get("query"),
                "attributes": {"kind": s.get("kind")},
            }
        )
    write_manifest(rows, manifest)
    res = selo_metrics.score_samples(
        selo_metrics.load_samples(manifest),
        run_dir,
        workers=workers,
        metrics=tuple(metrics),
        progress=False,
        source={"manifest": str(manifest), **dict(source or {})},
    )
    return res.summary


def metric_block(summary: Mapping[str, Any], keys: Sequence[str] = METRIC_KEYS["selo"]) -> dict:
    """The bench's block from a runner summary: ``keys``, ``n`` and ``per_kind``.

    Examples
    --------
    >>> s = {"rmi": 0.5, "rsu": 0.6, "ras": 0.4, "rda": 0.3, "scored": 2, "by_attribute":
    ...      {"kind": {"attribute": {"rmi": 0.5, "rsu": 0.6, "ras": 0.4, "rda": 0.3,
    ...                              "scored": 2}}}}
    >>> metric_block(s)["per_kind"]["attribute"]
    {'rmi': 0.5, 'rsu': 0.6, 'ras': 0.4, 'rda': 0.3, 'n': 2}
    """

    def block(stats: Mapping[str, Any]) -> dict[str, Any]:
        return {**{k: stats[k] for k in keys}, "n": int(stats["scored"])}

    out = block(summary)
    kinds = summary.get("by_attribute", {}).get("kind", {})
    out["per_kind"] = {k: block(v) for k, v in kinds.items()}
    return out


def read_block(run_dir: str | Path, keys: Sequence[str] = METRIC_KEYS["selo"]) -> dict:
    """`metric_block` of a finished run directory's ``summary.json``."""
    return metric_block(json.loads((Path(run_dir) / "summary.json").read_text()), keys)
