"""Write RRSIS rows as the two manifests the tools read: training / prediction, and scoring.

``NAME.jsonl`` is an ``xemap`` manifest (:func:`xemap.data.read_manifest`): ``id``,
``image``, ``query``, ``polygons`` or ``mask``, and the rows' other keys (kept as
attributes); ``xemap train`` and ``xemap predict --manifest`` read it. ``xemap predict``
writes the map of line ``idx`` as ``probmap_{idx}.png``.

``NAME.score.jsonl`` is a ``selo-metrics`` manifest (:func:`selo_metrics.load_samples`):
``id``, ``map`` (``probmap_{idx}.png``, relative to the maps folder given to
``selo-metrics score``), ``polygons`` or ``mask``, ``query`` and the scalar
``attributes`` chosen (default: ``category`` where the rows have one). Paths are written
relative to the manifest's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..datasets import write_manifest

__all__ = ["score_rows", "write_rrsis_manifests"]


def _relative(path: str, base: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive
        return str(Path(path).resolve())


def score_rows(
    rows: Sequence[dict[str, Any]],
    *,
    base: str | os.PathLike | None = None,
    attributes: Sequence[str] = ("category",),
) -> list[dict[str, Any]]:
    """The ``selo-metrics`` manifest rows of data set rows (map ``probmap_{idx}.png``).

    ``mask`` paths are made relative to ``base`` when given.

    Examples
    --------
    >>> score_rows([{"id": "7-1", "image": "a.jpg", "query": "a car",
    ...              "polygons": [[[0, 0], [4, 0], [4, 4]]], "category": "vehicle"}])
    [{'id': '7-1', 'map': 'probmap_0.png', 'query': 'a car',
      'attributes': {'category': 'vehicle'}, 'polygons': [[[0, 0], [4, 0], [4, 4]]]}]
    """
    out = []
    for idx, row in enumerate(rows):
        attrs = {k: row[k] for k in attributes if isinstance(row.get(k), str | int | float | bool)}
        item: dict[str, Any] = {
            "id": str(row["id"]),
            "map": f"probmap_{idx}.png",
            "query": row["query"],
            "attributes": attrs,
        }
        if row.get("polygons") is not None:
            item["polygons"] = row["polygons"]
        else:
            item["mask"] = row["mask"] if base is None else _relative(row["mask"], Path(base))
        out.append(item)
    return out


def write_rrsis_manifests(
    rows: Sequence[dict[str, Any]],
    out_dir: str | os.PathLike,
    name: str,
    *,
    attributes: Sequence[str] = ("category",),
) -> dict[str, Path]:
    """Write ``OUT/NAME.jsonl`` (xemap) and ``OUT/NAME.score.jsonl`` (selo-metrics).

    Returns ``{"manifest": ..., "score": ...}``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xemap.data import read_manifest
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = write_rrsis_manifests([{"id": "a", "image": str(d / "a.png"), "query": "q",
    ...                             "mask": str(d / "m.png")}], d / "out", "t")
    >>> pathlib.Path(read_manifest(p["manifest"])[0]["mask"]).resolve() == (d / "m.png")
    True
    >>> json.loads(p["score"].read_text())["mask"]
    '../m.png'
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    local = []
    for row in rows:
        r = dict(row, image=_relative(row["image"], out))
        if r.get("mask") is not None:
            r["mask"] = _relative(r["mask"], out)
        local.append(r)
    manifest = write_manifest(out / f"{name}.jsonl", local)
    score = out / f"{name}.score.jsonl"
    tmp = score.with_suffix(".tmp")
    tmp.write_text(
        "".join(json.dumps(r) + "\n" for r in score_rows(rows, base=out, attributes=attributes))
    )
    tmp.replace(score)
    return {"manifest": manifest, "score": score}
