"""Inference for any referring model: one map per query, ``probmap_{idx}.png``, at image size.

This module imports neither the training loop nor its config. ``xemap predict``
(`xemap.engine.commands`) runs `write_probmaps` on a model loaded by `load_model`, whose
family is read from the saved ``config.json``. Queries come from an AIR-SLT annotation
file (``--anno``: a JSON list of ``{caption, jpg_name, points}``; entry ``idx`` is written as
``probmap_{idx}.png``, the name ``selo-metrics score`` looks for) with ``--images`` holding
the ``jpg_name`` files, or from a manifest (``--manifest``: entry ``idx`` = its line / list
index).

Two ways to cover a large scene:

``resize`` (default, the paper)
    The image is resized to the model input (``config.image_size``, bilinear with
    antialias), the map is resized back to the original size (bilinear).
``tiles`` (``--tiles``)
    Square windows of ``--tile-size`` pixels (default: the model input size) at a stride of
    ``tile_size - overlap`` (``--overlap``, default a quarter of the tile), the last row and
    column moved back to end at the border; each window runs at its native resolution and
    the maps are blended with a separable tent weight (``min(i + 1, n - i) / (n / 2)``
    clipped to [1/n, 1]) so seams fade out. A side shorter than a tile falls back to
    ``resize`` for that image.

Maps are written as 8-bit gray PNG, ``uint8(rint(255 * map))`` (``numpy.rint``: round half
to even; the map is clipped to [0, 1] first). An existing ``probmap`` is never overwritten
unless ``--overwrite``. Queries are batched (``--batch-size``) on ``--device`` (auto: cuda
when available). The time of every query (image read, preprocessing, forward, resize, PNG
write; a batch's time shared evenly by its queries) is summarised on stdout and written
to ``OUT/predict_times.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PredictError",
    "check_outputs",
    "find_model_dir",
    "load_model",
    "predict_maps",
    "read_entries",
    "tile_starts",
    "to_uint8",
    "write_probmaps",
]


class PredictError(ValueError):
    """Bad input to ``xemap predict`` (model folder, annotations, existing outputs)."""


def to_uint8(prob: np.ndarray) -> np.ndarray:
    """A [0, 1] map as written to PNG: ``uint8(rint(255 * clip(map, 0, 1)))``.

    Examples
    --------
    >>> to_uint8(np.array([[0.0, 0.5, 1.0, 1.2]])).tolist()
    [[0, 128, 255, 255]]
    """
    return np.rint(255.0 * np.clip(np.asarray(prob, dtype=np.float64), 0.0, 1.0)).astype(np.uint8)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window starts covering ``length`` with windows of ``tile`` and ``overlap``.

    Examples
    --------
    >>> tile_starts(1000, 512, 128)
    [0, 384, 488]
    >>> tile_starts(512, 512, 128)
    [0]
    """
    if tile < 1 or not 0 <= overlap < tile:
        raise PredictError(f"need tile >= 1 and 0 <= overlap < tile, got {tile}, {overlap}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def _tent(n: int) -> np.ndarray:
    i = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(i + 1, n - i) / (n / 2.0), 1.0 / n, 1.0)


def find_model_dir(path: str | Path) -> Path:
    """A ``save_pretrained`` folder from itself, a checkpoint folder or a training ``OUT``.

    Examples
    --------
    >>> import tempfile
    >>> find_model_dir(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    xemap.engine.predict.PredictError: ... holds no saved model ...
    """
    from xemap.engine.checkpoints import latest_checkpoint

    p = Path(path)
    for cand in (p, p / "model"):
        if (cand / "config.json").is_file() and (cand / "model.safetensors").is_file():
            return cand
    ck = latest_checkpoint(p)
    if ck is not None:
        return ck / "model"
    raise PredictError(
        f"{p} holds no saved model (config.json + model.safetensors), nor model/ or "
        "checkpoints/NAME/model"
    )


def load_model(path: str | Path, device: str = "auto") -> Any:
    """Load any registered family for inference on ``device`` (auto: cuda when available).

    ``path`` is a ``save_pretrained`` folder, a checkpoint or a training ``OUT``
    (`find_model_dir`); the family comes from its ``config.json``. Eval mode.
    """
    import torch

    from xemap.models.registry import load_pretrained

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif str(device).startswith("cuda") and not torch.cuda.is_available():
        raise PredictError(f"device {device!r} asked for but CUDA is not available")
    return load_pretrained(find_model_dir(path), map_location=device).eval()


def _resize_map(m: Any, h: int, w: int) -> Any:
    from torch.nn import functional as F

    if tuple(m.shape[-2:]) == (h, w):
        return m
    return F.interpolate(m[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]


def _forward(model: Any, pixel: Any, queries: list[str], amp: bool) -> Any:
    import torch

    batch = model.tokenize(queries)
    with torch.autocast(device_type=pixel.device.type, dtype=torch.float16, enabled=amp):
        return model(pixel, **batch).float()


def predict_maps(
    model: Any,
    images: Sequence[np.ndarray],
    queries: Sequence[str],
    *,
    batch_size: int = 8,
    tiles: bool = False,
    tile_size: int | None = None,
    overlap: int | None = None,
    amp: bool = True,
) -> list[np.ndarray]:
    """Maps ``float32 (H, W)`` in [0, 1] of ``queries[i]`` on ``images[i]``, original sizes.

    Parameters
    ----------
    model : xemap.models.base.ReferringModel
        Any family, in eval mode; its device is used.
    images : sequence of ndarray
        uint8 ``(H, W, 3)`` RGB images (one per query; the same array may repeat).
    queries : sequence of str
    batch_size : int
        Queries (resize mode) or tiles (tile mode) per forward pass.
    tiles : bool
        Overlapping tiles instead of one resize (see the module docstring).
    tile_size, overlap : int, optional
        Defaults: ``config.image_size`` and a quarter of the tile.
    amp : bool
        float16 autocast when the model is on CUDA.

    Examples
    --------
    >>> import torch
    >>> from xemap.models import create_model
    >>> _ = torch.manual_seed(0)
    >>> model = create_model("xemap", "tiny").eval()
    >>> img = np.zeros((70, 90, 3), np.uint8)
    >>> maps = predict_maps(model, [img, img], ["a", "b"], tiles=True, tile_size=64)
    >>> [m.shape for m in maps], maps[0].dtype
    ([(70, 90), (70, 90)], dtype('float32'))
    """
    import torch

    if len(images) != len(queries):
        raise PredictError(f"{len(images)} images for {len(queries)} queries")
    if batch_size < 1:
        raise PredictError(f"batch_size must be >= 1, got {batch_size}")
    amp = amp and model.device.type == "cuda"
    out: list[np.ndarray | None] = [None] * len(queries)
    size = model.config.image_size
    tile = int(tile_size or size)
    ov = tile // 4 if overlap is None else int(overlap)
    resize_idx = []
    with torch.inference_mode():
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            if tiles and h >= tile and w >= tile:
                out[i] = _predict_tiled(model, img, queries[i], tile, ov, batch_size, amp)
            else:
                resize_idx.append(i)
        for b in range(0, len(resize_idx), batch_size):
            idx = resize_idx[b : b + batch_size]
            pixel = model.preprocess([images[i] for i in idx])
            maps = _forward(model, pixel, [queries[i] for i in idx], amp)
            for k, i in enumerate(idx):
                h, w = images[i].shape[:2]
                m = _resize_map(maps[k], h, w).clamp_(0, 1)
                out[i] = m.cpu().numpy().astype(np.float32)
    return out  # type: ignore[return-value]


def _predict_tiled(
    model: Any, img: np.ndarray, query: str, tile: int, overlap: int, batch_size: int, amp: bool
) -> np.ndarray:
    import torch

    h, w = img.shape[:2]
    boxes = [(y, x) for y in tile_starts(h, tile, overlap) for x in tile_starts(w, tile, overlap)]
    dev = model.device
    acc = torch.zeros((h, w), dtype=torch.float32, device=dev)
    wsum = torch.zeros((h, w), dtype=torch.float32, device=dev)
    weight = torch.as_tensor(np.outer(_tent(tile), _tent(tile)), dtype=torch.float32, device=dev)
    for b in range(0, len(boxes), batch_size):
        chunk = boxes[b : b + batch_size]
        pixel = model.preprocess([img[y : y + tile, x : x + tile] for y, x in chunk])
        maps = _forward(model, pixel, [query] * len(chunk), amp)
        for k, (y, x) in enumerate(chunk):
            m = _resize_map(maps[k], tile, tile)
            acc[y : y + tile, x : x + tile] += weight * m
            wsum[y : y + tile, x : x + tile] += weight
    return (acc / wsum).clamp_(0, 1).cpu().numpy().astype(np.float32)


def check_outputs(n: int, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """The paths ``out_dir/probmap_{idx}.png``; :class:`PredictError` if one exists.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in check_outputs(2, tempfile.mkdtemp())]
    ['probmap_0.png', 'probmap_1.png']
    """
    out = Path(out_dir)
    names = [out / f"probmap_{i}.png" for i in range(n)]
    existing = [str(p) for p in names if p.exists()]
    if existing and not overwrite:
        raise PredictError(
            f"{len(existing)} probmap(s) already exist, e.g. {existing[0]}; "
            "pass --overwrite to replace them"
        )
    return names


def read_entries(
    anno: str | Path | None = None,
    images: str | Path | None = None,
    manifest: str | Path | None = None,
) -> list[dict[str, Any]]:
    """The queries to predict: an AIR-SLT ``anno`` with its ``images`` folder, or a manifest."""
    from xemap.data.datasets import read_anno, read_manifest

    if (anno is None) == (manifest is None):
        raise PredictError("give exactly one of an annotation file and a manifest")
    if anno is not None:
        if not images:
            raise PredictError("--anno needs --images DIR (the folder of the jpg_name files)")
        return read_anno(anno, images=images)
    return read_manifest(manifest)


def write_probmaps(
    model: Any,
    entries: Sequence[dict[str, Any]],
    out_dir: str | Path,
    *,
    batch_size: int = 8,
    tiles: bool = False,
    tile_size: int | None = None,
    overlap: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Predict and write ``probmap_{idx}.png`` for ``entries[idx]``; return the time summary.

    ``entries`` are manifest-style dicts with ``image`` (path or array) and ``query``.
    Raises :class:`PredictError` before any work if a target PNG exists and not
    ``overwrite``. The summary is also written to ``out_dir/predict_times.json``.
    """
    import torch
    from PIL import Image
    from tqdm.auto import tqdm

    from xemap.data.datasets import load_image

    out = Path(out_dir)
    names = check_outputs(len(entries), out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    # group queries by image so each image is read once per group
    order = sorted(
        range(len(entries)),
        key=lambda i: (
            str(entries[i]["image"]) if isinstance(entries[i]["image"], (str, Path)) else f"~{i}"
        ),
    )
    times = [0.0] * len(entries)
    cuda = model.device.type == "cuda"
    cache: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(entries), disable=not progress, file=sys.stderr, desc="predict")
    t_all = time.perf_counter()
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        t0 = time.perf_counter()
        imgs = []
        for i in idx:
            src = entries[i]["image"]
            key = str(src) if isinstance(src, (str, Path)) else None
            if key is not None and key in cache:
                imgs.append(cache[key])
                continue
            img = load_image(src, sample_id=entries[i].get("id", i))
            if key is not None:
                cache.clear()
                cache[key] = img
            imgs.append(img)
        maps = predict_maps(
            model,
            imgs,
            [entries[i]["query"] for i in idx],
            batch_size=batch_size,
            tiles=tiles,
            tile_size=tile_size,
            overlap=overlap,
        )
        for i, m in zip(idx, maps, strict=True):
            tmp = names[i].with_suffix(".tmp.png")
            Image.fromarray(to_uint8(m), mode="L").save(tmp)
            tmp.replace(names[i])
        if cuda:
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / len(idx)
        for i in idx:
            times[i] = dt
        bar.update(len(idx))
    bar.close()
    arr = np.asarray(times)
    summary = {
        "n_queries": len(entries),
        "total_seconds": round(time.perf_counter() - t_all, 4),
        "mean_seconds_per_query": round(float(arr.mean()), 5) if len(arr) else None,
        "median_seconds_per_query": round(float(np.median(arr)), 5) if len(arr) else None,
        "p90_seconds_per_query": round(float(np.percentile(arr, 90)), 5) if len(arr) else None,
        "max_seconds_per_query": round(float(arr.max()), 5) if len(arr) else None,
        "device": str(model.device),
        "mode": "tiles" if tiles else "resize",
        "batch_size": batch_size,
        "image_size": model.config.image_size,
        "per_query": [{"idx": i, "seconds": round(t, 5)} for i, t in enumerate(times)],
    }
    (out / "predict_times.json").write_text(json.dumps(summary, indent=2))
    return summary
