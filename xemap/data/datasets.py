"""Manifests of (image, query, polygons | mask) samples and the torch dataset built on them.

A manifest is a JSON list (or ``{"samples": [...]}``) or a JSONL file (one object a line)
of samples::

    {"id": "s0", "image": "images/a.png", "query": "the red square left of ...",
     "polygons": [[[x, y], ...], ...], "kind": "one-hop", ...}

``image`` (and ``mask``, a 0/255 or 0/1 gray PNG used instead of ``polygons``) are paths
relative to the manifest's folder unless absolute; ``polygons`` are AIR-SLT ``points`` in
pixel coordinates of the image; ``id`` defaults to the line index; any other key is kept as
an attribute. AIR-SLT annotation files (a JSON list of ``{caption, jpg_name, points}``) are
read by :func:`read_anno`.

:class:`ReferringDataset` (torch, imported lazily; ``XeMapDataset`` is the same class) loads
the image, resizes it to ``image_size`` (512 as in the paper) and makes the supervision at
that size on the fly: the MCMG target (``supervision="mcmg"``) or the binary mask
(``"mask"``); :class:`Collator` stacks a batch and tokenises its queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selo_metrics.samples import ManifestError as _SeLoManifestError
from selo_metrics.samples import read_records

from .mcmg import DEFAULT_GRID_SIZES, mcmg_target, rasterize

__all__ = [
    "SUPERVISIONS",
    "Collator",
    "ManifestError",
    "ReferringDataset",
    "XeMapDataset",
    "load_image",
    "make_mask",
    "make_target",
    "read_anno",
    "read_manifest",
    "write_manifest",
]


#: what a dataset item supervises with: the MCMG target, or a binary mask
SUPERVISIONS = ("mcmg", "mask")


class ManifestError(_SeLoManifestError):
    """A manifest or annotation file that cannot be used; names the file and the sample.

    A :class:`selo_metrics.ManifestError` (so a ``ValueError``), like the runner's.
    """


def _load_json_or_jsonl(path: Path) -> list[Any]:
    try:
        return read_records(path)
    except _SeLoManifestError as exc:
        raise ManifestError(exc.problem) from None


def _check_polygons(polys: Any, where: str) -> list[list[list[float]]]:
    if not isinstance(polys, list) or not polys:
        raise ManifestError(f"{where}: 'polygons' must be a non-empty list of polygons")
    out = []
    for k, poly in enumerate(polys):
        try:
            arr = np.asarray(poly, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: polygon {k} is not a list of [x, y]") from exc
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 3:
            raise ManifestError(
                f"{where}: polygon {k} must be a list of >= 3 [x, y] points, got shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ManifestError(f"{where}: polygon {k} has NaN or infinite coordinates")
        out.append(arr.tolist())
    return out


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a JSON / JSONL manifest; paths come back absolute.

    Raises
    ------
    ManifestError
        (a ``ValueError``) for a file that is not JSON, a sample that is not an object, a
        missing or empty ``image`` / ``query``, neither or both of ``polygons`` and
        ``mask``, a malformed polygon, a duplicate id; the message names the file and the
        sample (index and id).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.jsonl")
    >>> _ = open(p, "w").write('{"image": "a.png", "query": "q", '
    ...                        '"polygons": [[[0, 0], [4, 0], [4, 4]]]}\\n')
    >>> s = read_manifest(p)[0]
    >>> s["id"], s["image"].endswith("a.png"), s["query"]
    ('0', True, 'q')
    """
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"manifest {path} does not exist")
    root = path.parent
    out, seen = [], set()
    for i, row in enumerate(_load_json_or_jsonl(path)):
        where = f"{path}: sample {i}"
        if not isinstance(row, dict):
            raise ManifestError(f"{where}: expected an object, got {type(row).__name__}")
        sid = str(row.get("id", i))
        where = f"{path}: sample {i} (id {sid!r})"
        if sid in seen:
            raise ManifestError(f"{where}: duplicate id")
        seen.add(sid)
        image = row.get("image")
        if not isinstance(image, str) or not image:
            raise ManifestError(f"{where}: missing 'image' path")
        query = row.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ManifestError(f"{where}: missing or empty 'query'")
        has_p, has_m = row.get("polygons") is not None, row.get("mask") is not None
        if has_p == has_m:
            raise ManifestError(f"{where}: give exactly one of 'polygons' and 'mask'")
        sample = dict(row, id=sid, image=str(root / image))
        if has_p:
            sample["polygons"] = _check_polygons(row["polygons"], where)
        else:
            if not isinstance(row["mask"], str):
                raise ManifestError(f"{where}: 'mask' must be a path to a gray PNG")
            sample["mask"] = str(root / row["mask"])
        out.append(sample)
    return out


def write_manifest(path: str | Path, samples: Sequence[dict[str, Any]]) -> Path:
    """Write samples as JSONL (``.jsonl``) or a JSON list (any other suffix).

    Images and masks must be given as paths (strings); numpy values are converted.

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_manifest(os.path.join(tempfile.mkdtemp(), "m.json"),
    ...                    [{"id": "a", "image": "a.png", "query": "q",
    ...                      "polygons": [[[0, 0], [4, 0], [4, 4]]]}])
    >>> [s["id"] for s in read_manifest(p)]
    ['a']
    """
    path = Path(path)

    def plain(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        raise TypeError(f"cannot write {type(v).__name__} to a manifest")

    rows = [dict(s) for s in samples]
    for i, r in enumerate(rows):
        if not isinstance(r.get("image"), str):
            raise ManifestError(f"sample {i} (id {r.get('id')!r}): 'image' must be a path")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".jsonl":
        path.write_text("".join(json.dumps(r, default=plain) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows, default=plain))
    return path


def read_anno(path: str | Path, images: str | Path | None = None) -> list[dict[str, Any]]:
    """Read an AIR-SLT annotation file as manifest samples (``id`` = the entry index).

    Each entry ``{caption, jpg_name, points}`` becomes ``{id: str(idx), image:
    images/jpg_name, query: caption, polygons: points}``; other keys are kept.

    Examples
    --------
    >>> import tempfile, os, json
    >>> p = os.path.join(tempfile.mkdtemp(), "anno.json")
    >>> _ = open(p, "w").write(json.dumps([{"caption": "a pond", "jpg_name": "x.jpg",
    ...                                      "points": [[[1, 1], [9, 1], [9, 9]]]}]))
    >>> s = read_anno(p, images="/data")[0]
    >>> s["id"], s["image"], s["query"]
    ('0', '/data/x.jpg', 'a pond')
    """
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"annotation file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ManifestError(f"{path}: an AIR-SLT anno is a JSON list of entries")
    root = Path(images) if images is not None else path.parent
    out = []
    for i, e in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(e, dict):
            raise ManifestError(f"{where}: expected an object")
        for key in ("caption", "jpg_name", "points"):
            if key not in e:
                raise ManifestError(f"{where}: missing {key!r}")
        rest = {k: v for k, v in e.items() if k not in ("caption", "jpg_name", "points")}
        out.append(
            {
                **rest,
                "id": str(i),
                "image": str(root / e["jpg_name"]),
                "query": str(e["caption"]),
                "polygons": _check_polygons(e["points"], where),
            }
        )
    return out


def load_image(image: Any, *, sample_id: Any = None) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array from a path or an array (gray is repeated).

    Examples
    --------
    >>> load_image(np.zeros((4, 5), np.uint8)).shape
    (4, 5, 3)
    """
    if isinstance(image, (str, Path)):
        from PIL import Image

        try:
            with Image.open(image) as im:
                arr = np.array(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise ManifestError(f"sample {sample_id!r}: cannot read image {image}: {exc}") from exc
    else:
        arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ManifestError(
            f"sample {sample_id!r}: image must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}"
        )
    return np.ascontiguousarray(arr[..., :3])


def _resize_rgb(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    from PIL import Image

    return np.array(Image.fromarray(img).resize((size, size), Image.BILINEAR))


def make_target(
    sample: dict[str, Any],
    orig_shape: tuple[int, int],
    size: int,
    *,
    grid_sizes: Sequence[int] = DEFAULT_GRID_SIZES,
    sigma: float | None = None,
) -> np.ndarray:
    """The MCMG target of a sample at ``size x size`` (uint8).

    Polygons are scaled from the image's ``orig_shape`` (H, W) to the target size and
    rasterized there; a mask is area-resized (its coverage kept as a fraction).

    Examples
    --------
    >>> t = make_target({"id": "a", "polygons": [[[0, 0], [50, 0], [50, 50], [0, 50]]]},
    ...                 (100, 200), 32)
    >>> t.shape, int(t.max()), int(t[2, 2]) > int(t[30, 30])
    ((32, 32), 255, True)
    """
    sid = sample.get("id")
    h, w = orig_shape
    if sample.get("polygons") is not None:
        sx, sy = size / w, size / h
        polys = [[[x * sx, y * sy] for x, y in p] for p in sample["polygons"]]
        return mcmg_target(
            polys, shape=(size, size), grid_sizes=grid_sizes, sigma=sigma, sample_id=sid
        )
    m = _read_mask(sample, (h, w))
    if (h, w) != (size, size):
        from PIL import Image

        m = np.asarray(Image.fromarray(m, mode="F").resize((size, size), Image.BOX))
    return mcmg_target(np.clip(m, 0.0, 1.0), grid_sizes=grid_sizes, sigma=sigma, sample_id=sid)


def _read_mask(sample: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """A sample's ``mask`` (path or array) as float coverage in [0, 1] at the image's shape."""
    mask = sample["mask"]
    if isinstance(mask, (str, Path)):
        from PIL import Image

        with Image.open(mask) as im:
            mask = np.asarray(im.convert("L"))
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ManifestError(
            f"sample {sample.get('id')!r}: mask shape {mask.shape} != image shape {tuple(shape)}"
        )
    return mask.astype(np.float32) / (255.0 if mask.max() > 1 else 1.0)


def make_mask(sample: dict[str, Any], orig_shape: tuple[int, int], size: int) -> np.ndarray:
    """The binary mask of a sample at ``size x size`` (bool).

    Polygons are scaled from the image's ``orig_shape`` (H, W) to the mask size exactly as
    :func:`make_target` scales them and rasterised there with the GT rasteriser
    (:func:`~xemap.data.mcmg.rasterize`); a mask file is thresholded at half its range and
    resized nearest-neighbour.

    Examples
    --------
    >>> m = make_mask({"id": "a", "polygons": [[[0, 0], [49, 0], [49, 49], [0, 49]]]},
    ...               (100, 200), 8)
    >>> m.dtype, m.astype(int).tolist()[0]
    (dtype('bool'), [1, 1, 0, 0, 0, 0, 0, 0])
    """
    h, w = orig_shape
    if sample.get("polygons") is not None:
        sx, sy = size / w, size / h
        polys = [[[x * sx, y * sy] for x, y in p] for p in sample["polygons"]]
        return rasterize(polys, (size, size), sample_id=sample.get("id")).astype(bool)
    m = _read_mask(sample, (h, w)) >= 0.5
    if (h, w) != (size, size):
        from PIL import Image

        m = np.asarray(Image.fromarray(m).resize((size, size), Image.NEAREST))
    return np.ascontiguousarray(m, dtype=bool)


class ReferringDataset:
    """Torch map-style dataset: ``(image, query, target | mask)`` resized to ``image_size``.

    Parameters
    ----------
    samples : sequence of dict or str or Path
        Manifest samples (:func:`read_manifest`, :func:`read_anno`, or in-memory ones whose
        ``image`` is an array), or the path of a manifest.
    image_size : int, default 512
        Side of the square image and target (the paper: 512).
    grid_sizes, sigma
        MCMG parameters (:func:`~xemap.data.mcmg.mcmg_target`).
    supervision : {"mcmg", "mask"}
        What each item carries beside the image: ``target`` or ``mask``.

    Each item is a dict: ``image`` uint8 tensor (S, S, 3), ``query`` str, ``id`` str, and
    ``target`` float32 tensor (S, S) in [0, 1] (the MCMG map / 255, :func:`make_target`) or
    ``mask`` bool tensor (S, S) (:func:`make_mask`).

    Examples
    --------
    >>> ds = XeMapDataset([{"id": "a", "image": np.zeros((20, 30, 3), np.uint8), "query": "q",
    ...                     "polygons": [[[0, 0], [10, 0], [10, 10]]]}], image_size=16)
    >>> item = ds[0]
    >>> tuple(item["image"].shape), tuple(item["target"].shape), str(item["target"].dtype)
    ((16, 16, 3), (16, 16), 'torch.float32')
    """

    def __init__(
        self,
        samples: Sequence[dict[str, Any]] | str | Path,
        *,
        image_size: int = 512,
        grid_sizes: Sequence[int] = DEFAULT_GRID_SIZES,
        sigma: float | None = None,
        supervision: str = "mcmg",
    ) -> None:
        if supervision not in SUPERVISIONS:
            raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {supervision!r}")
        self.supervision = supervision
        if isinstance(samples, (str, Path)):
            samples = read_manifest(samples)
        self.samples = list(samples)
        self.image_size = int(image_size)
        self.grid_sizes = tuple(grid_sizes)
        self.sigma = sigma

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        s = self.samples[i]
        sid = s.get("id", i)
        img = load_image(s["image"], sample_id=sid)
        item: dict[str, Any] = {"query": s["query"], "id": str(sid)}
        if self.supervision == "mask":
            item["mask"] = torch.from_numpy(make_mask(s, img.shape[:2], self.image_size))
        else:
            target = make_target(
                s, img.shape[:2], self.image_size, grid_sizes=self.grid_sizes, sigma=self.sigma
            )
            item["target"] = torch.from_numpy(target.astype(np.float32) / 255.0)
        item["image"] = torch.from_numpy(np.array(_resize_rgb(img, self.image_size)))
        return item


#: the former name of `ReferringDataset`
XeMapDataset = ReferringDataset


class Collator:
    """Stack a batch and tokenise its queries with ``tokenize`` (e.g. ``model.tokenize``).

    Returns ``{"image": uint8 (B, S, S, 3), "target": float32 (B, S, S) or "mask": bool
    (B, S, S) (whichever the items hold), "query": list, "id": list, **tokenize(queries)}``.
    ``tokenize`` must be picklable for worker processes (``model.tokenize_fn()`` is).

    Examples
    --------
    >>> import torch
    >>> c = Collator(lambda qs: {"input_ids": torch.ones(len(qs), 3, dtype=torch.long)})
    >>> b = c([{"image": torch.zeros(4, 4, 3, dtype=torch.uint8), "target": torch.zeros(4, 4),
    ...         "query": "q", "id": "a"}] * 2)
    >>> tuple(b["image"].shape), tuple(b["input_ids"].shape), b["id"]
    ((2, 4, 4, 3), (2, 3), ['a', 'a'])
    """

    def __init__(self, tokenize: Any) -> None:
        self.tokenize = tokenize

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        queries = [it["query"] for it in items]
        out = {
            "image": torch.stack([it["image"] for it in items]),
            "query": queries,
            "id": [it["id"] for it in items],
        }
        for key in ("target", "mask"):
            if key in items[0]:
                out[key] = torch.stack([it[key] for it in items])
        out.update(dict(self.tokenize(queries)))
        return out
