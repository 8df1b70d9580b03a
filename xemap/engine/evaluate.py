"""Score a referring model on samples with ``selo_metrics``: maps -> SeLo metrics (-> RRSIS).

One way through the data: `predict_maps` (the inference engine) gives each sample's map at its
image size, `score_maps` scores maps against the samples' polygons into a
``selo_metrics.SeLoAccumulator`` (a sample that cannot be scored is recorded as a failure and
the others go on), `metric_block` turns the accumulator into the bench's block
``{"rmi", "rsu", "ras", "rda", "n", "per_kind"}``; `rrsis_metrics` gives mIoU, oIoU and
precision@t. `evaluate_model` chains them; `validate` is what the training loop logs each
epoch, through the ``torchmetrics`` metrics of ``selo_metrics.torchmetrics`` (Rmi and the
others; mIoU too for mask-supervised families), gathered across DDP processes.

Scoring scale: the SeLo metrics' attention stage uses 50 px box filters and a 1000 px window,
meant for 1k-10k px scenes. With ``score_size`` each map is upsampled (bilinear) so that its
longer side is ``score_size`` px and the polygons are mapped to the same pixel grid
(``x' = (x + 0.5) * s - 0.5``); every map and polygon gets the same treatment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "evaluate_model",
    "metric_block",
    "rrsis_metrics",
    "score_maps",
    "validate",
]

METRICS = ("rmi", "rsu", "ras", "rda")


def _scale_polygons(polys: Sequence[Any], s: float) -> list[list[list[float]]]:
    return [[[(x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5] for x, y in p] for p in polys]


def _upsample(m: np.ndarray, score_size: int | None) -> tuple[np.ndarray, float]:
    m = np.asarray(m, np.float32)
    if not score_size:
        return m, 1.0
    import torch
    from torch.nn import functional as F

    h, w = m.shape
    scale = score_size / max(h, w)
    big = F.interpolate(
        torch.as_tensor(m)[None, None],
        size=(round(h * scale), round(w * scale)),
        mode="bilinear",
        align_corners=False,
    )[0, 0].clamp_(0, 1)
    return big.numpy(), scale


def score_maps(
    maps: Sequence[np.ndarray],
    samples: Sequence[dict[str, Any]],
    *,
    score_size: int | None = None,
    attributes: Sequence[str] = ("kind",),
    accumulator: Any = None,
) -> Any:
    """Score maps (float [0, 1], each at its sample's image size) against the polygons.

    Parameters
    ----------
    maps : sequence of ndarray
    samples : sequence of dict
        Manifest samples with ``polygons`` (``id`` and the ``attributes`` keys when present).
    score_size : int, optional
        Upsample so that the longer side has this many pixels (see the module docstring).
    attributes : sequence of str
        Sample keys recorded as attributes (per-kind means).
    accumulator : selo_metrics.SeLoAccumulator, optional
        Filled in place; a new one by default.

    Returns
    -------
    selo_metrics.SeLoAccumulator

    Examples
    --------
    >>> m = np.zeros((64, 64), np.float32); m[10:20, 10:20] = 1
    >>> s = {"id": "a", "kind": "one-hop", "polygons": [[[10, 10], [19, 10], [19, 19], [10, 19]]]}
    >>> acc = score_maps([m], [s], score_size=512)
    >>> acc.compute()["rmi"] > 0.9
    True
    """
    import selo_metrics

    acc = selo_metrics.SeLoAccumulator() if accumulator is None else accumulator
    if len(maps) != len(samples):
        raise ValueError(f"{len(maps)} maps for {len(samples)} samples")
    for i, (m, s) in enumerate(zip(maps, samples, strict=True)):
        attrs = {k: s[k] for k in attributes if s.get(k) is not None}
        sid = s.get("id", i)
        try:
            big, scale = _upsample(m, score_size)
            polys = s["polygons"] if scale == 1.0 else _scale_polygons(s["polygons"], scale)
            acc.update(big, polys, sample_id=sid, index=i, attributes=attrs)
        except (ValueError, KeyError, TypeError) as exc:
            acc.add_failure(sid, exc, index=i, attributes=attrs)
    return acc


def metric_block(acc: Any, by: str = "kind") -> dict[str, Any]:
    """``{"rmi", "rsu", "ras", "rda", "n", "failed", "per_kind": {value: {...}}}``.

    Exact means of the scored samples (``SeLoAccumulator.compute``); ``per_kind`` breaks
    them down by the attribute ``by``.

    Examples
    --------
    >>> import selo_metrics
    >>> acc = selo_metrics.SeLoAccumulator()
    >>> g = np.zeros((300, 300), np.uint8); g[100:200, 100:200] = 255
    >>> _ = acc.update(g, [[(90, 90), (210, 90), (210, 210), (90, 210)]], sample_id="a",
    ...                attributes={"kind": "one-hop"})
    >>> b = metric_block(acc)
    >>> b["n"], round(b["rmi"], 4), sorted(b["per_kind"])
    (1, 0.9987, ['one-hop'])
    """
    s = acc.compute()

    def block(stats: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: stats[k] for k in METRICS},
            "n": stats["scored"],
            "failed": stats["failed"],
        }

    out = block(s)
    out["per_kind"] = {k: block(v) for k, v in s["by_attribute"].get(by, {}).items()}
    return out


def rrsis_metrics(maps: Sequence[np.ndarray], samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """mIoU, oIoU and precision@t of maps (foreground > 0.5) against the samples' polygons.

    Returns ``selo_metrics.rrsis.RRSISAccumulator.compute()``: ``n``, ``miou``, ``oiou``,
    ``prec@0.5`` ... ``prec@0.9``.

    Examples
    --------
    >>> m = np.zeros((64, 64), np.float32); m[10:20, 10:20] = 1
    >>> s = {"id": "a", "polygons": [[[10, 10], [19, 10], [19, 19], [10, 19]]]}
    >>> r = rrsis_metrics([m], [s]); r["n"], r["miou"]
    (1, 1.0)
    """
    from selo_metrics.rrsis import RRSISAccumulator

    acc = RRSISAccumulator()
    for m, s in zip(maps, samples, strict=True):
        acc.update(np.asarray(m, np.float32), s["polygons"])
    return dict(acc.compute())


def evaluate_model(
    model: Any,
    samples: Sequence[dict[str, Any]],
    *,
    batch_size: int = 32,
    score_size: int | None = None,
    tiles: bool = False,
    attributes: Sequence[str] = ("kind",),
) -> Any:
    """Predict every sample's map with ``model`` and score it: a ``SeLoAccumulator``.

    ``samples`` are manifest samples (``image`` a path or an array, ``query``,
    ``polygons``). The model is put in eval mode.
    """
    from xemap.engine.predict import predict_maps

    model.eval()
    maps = _maps(model, samples, batch_size=batch_size, tiles=tiles, predict=predict_maps)
    return score_maps(maps, samples, score_size=score_size, attributes=attributes)


def _maps(model: Any, samples: Sequence[dict[str, Any]], *, batch_size, tiles, predict) -> list:
    from xemap.data.datasets import load_image

    images = [load_image(s["image"], sample_id=s.get("id", i)) for i, s in enumerate(samples)]
    return predict(model, images, [s["query"] for s in samples], batch_size=batch_size, tiles=tiles)


def validate(
    model: Any,
    samples: Sequence[dict[str, Any]],
    *,
    batch_size: int = 32,
    score_size: int | None = None,
    rank: int = 0,
    world: int = 1,
) -> dict[str, Any]:
    """The validation record, scored with ``selo_metrics.torchmetrics`` metrics.

    Each of the ``world`` processes predicts and scores its share ``samples[rank::world]``
    into a `SeLoMetric` (and an `RRSISMetric` when the family's ``supervision`` is
    ``"mask"``); ``compute()`` gathers every process's per-sample values, so all ranks get
    the same exact means as one `SeLoAccumulator` over the whole set. A sample that cannot
    be scored counts as failed (summed over the processes) and the others go on.

    Returns ``{"n", "failed", "rmi", "rsu", "ras", "rda"}`` plus ``"miou"``, ``"oiou"`` and
    ``"prec@t"`` for mask-supervised families. The model is left in eval mode.
    """
    import torch

    from selo_metrics.errors import SeLoInputError
    from selo_metrics.torchmetrics import RRSISMetric, SeLoMetric
    from xemap.engine.predict import predict_maps

    model.eval()
    mine = list(samples)[rank::world]
    maps = (
        _maps(model, mine, batch_size=batch_size, tiles=False, predict=predict_maps) if mine else []
    )
    selo = SeLoMetric()
    rrsis = RRSISMetric() if getattr(model, "supervision", "mcmg") == "mask" else None
    failed = 0
    for i, (m, s) in enumerate(zip(maps, mine, strict=True)):
        sid = s.get("id", rank + i * world)
        try:
            big, scale = _upsample(m, score_size)
            polys = s["polygons"] if scale == 1.0 else _scale_polygons(s["polygons"], scale)
            selo.update(torch.from_numpy(big)[None], [polys], sample_ids=[sid])
            if rrsis is not None:
                rrsis.update(torch.from_numpy(np.asarray(m))[None], [s["polygons"]], [sid])
        except (SeLoInputError, KeyError):
            failed += 1
    if world > 1:
        import torch.distributed as dist

        n_failed = torch.tensor([failed], dtype=torch.float64, device=model.device)
        dist.all_reduce(n_failed)
        failed = int(n_failed.item())
    s = selo.compute()
    rec = {"n": s["scored"], "failed": failed, **{k: s[k] for k in METRICS}}
    if rrsis is not None:
        rec.update({k: v for k, v in rrsis.compute().items() if k != "n"})
    return rec
