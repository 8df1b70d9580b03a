"""The RRSIS metrics in runs: one sample's row, the RMSIN fixed-size protocol, the summary.

A run scores the RRSIS family (``selo-metrics score --metrics selo,rrsis`` or ``rrsis``)
with :func:`rrsis_row`, which gives each sample's ``iou``, ``inter`` (I) and ``union``
(U); :func:`rrsis_stats` turns the rows into ``miou``, ``oiou`` and ``prec@t`` through
:class:`~selo_metrics.rrsis.RRSISAccumulator` (exact, order-free), for the summary and for
every attribute value.

Two resolutions:

``size=None`` (default): the GT's own resolution
    The prediction map and the GT mask must have the same shape (polygons are rasterised
    at the map's shape).
``size=S``: the RMSIN / LAVT protocol at a fixed square size (they use 480)
    The GT mask at its own resolution (polygons rasterised at the map's shape) is resized
    to ``S x S`` by Pillow's nearest neighbour (what ``torchvision``'s ``F.resize(target,
    (S, S), interpolation=NEAREST)`` does to a PIL mask); the prediction's probability
    (``value / 255`` for a uint8 map) is resized to ``S x S`` bilinearly with
    ``align_corners=True`` in float64 (:func:`resize_bilinear`, the interpolation RMSIN
    applies to its logits; equal to ``torch.nn.functional.interpolate`` within 1 ulp),
    then thresholded at ``> 0.5``. Map and GT may then differ in shape (an 800 x 801
    image's map against its 800 x 800 annotation), as in RMSIN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import SeLoInputError
from .rrsis import (
    DEFAULT_THRESHOLDS,
    RRSISAccumulator,
    _gt_mask,
    _is_mask,
    _prediction,
    intersection_union,
)

__all__ = [
    "FAMILIES",
    "RRSIS_COLUMNS",
    "parse_metrics",
    "resize_bilinear",
    "resize_nearest",
    "rrsis_row",
    "rrsis_stats",
]

#: the metric families a run can score
FAMILIES = ("selo", "rrsis")
#: (summary key, table header) of the RRSIS columns; tables print them x 100, 2 decimals
RRSIS_COLUMNS = (("miou", "mIoU"), ("oiou", "oIoU"),
                 *((f"prec@{t!r}", f"P@{t!r}") for t in DEFAULT_THRESHOLDS))  # fmt: skip


def parse_metrics(text: str | Sequence[str]) -> tuple[str, ...]:
    """The metric families of ``"selo,rrsis"`` (or a list), checked, in canonical order.

    Examples
    --------
    >>> parse_metrics("rrsis, selo"), parse_metrics(["rrsis"])
    (('selo', 'rrsis'), ('rrsis',))
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names = {s.strip() for s in items if s.strip()}
    unknown = sorted(names - set(FAMILIES))
    if unknown or not names:
        raise ValueError(
            f"unknown metric family {unknown or text!r}; choose from "
            f"{', '.join(FAMILIES)} (comma-separated)"
        )
    return tuple(f for f in FAMILIES if f in names)


def resize_nearest(mask: np.ndarray, size: int) -> np.ndarray:
    """A 0/1 mask resized to ``size x size`` by Pillow's nearest neighbour (uint8).

    Pillow maps output pixel ``d`` to input ``int(0.5 * s + d * s)`` with ``s = in / out``
    accumulated in float64 (``ImagingScaleAffine``), on each axis.

    Examples
    --------
    >>> resize_nearest(np.eye(4, dtype=np.uint8), 2)
    array([[1, 0],
           [0, 1]], dtype=uint8)
    """
    from PIL import Image

    m = np.ascontiguousarray(np.asarray(mask, dtype=np.uint8))
    return np.asarray(Image.fromarray(m, mode="L").resize((size, size), Image.NEAREST))


def _linear_index(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    src = np.arange(n_out) * scale
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam1 = src - i0
    return i0, i1, 1.0 - lam1, lam1


def resize_bilinear(pred: np.ndarray, size: int) -> np.ndarray:
    """A probability map resized to ``size x size``, bilinear, ``align_corners=True`` (float64).

    Output ``(y, x)`` reads the source at ``(y * (H - 1) / (S - 1), x * (W - 1) / (S - 1))``:
    ``l0y * (l0x * p[y0, x0] + l1x * p[y0, x1]) + l1y * (l0x * p[y1, x0] + l1x * p[y1, x1])``
    with ``y0`` the integer part, ``y1 = min(y0 + 1, H - 1)``, ``l1y`` the fraction and
    ``l0y = 1 - l1y`` (likewise in x). ``p`` is ``value / 255`` for a uint8 map, 0/1 for a
    bool mask. Only the needed columns are converted to float (no float copy of the map).

    Examples
    --------
    >>> resize_bilinear(np.array([[0, 255]], np.uint8), 3)
    array([[0. , 0.5, 1. ],
           [0. , 0.5, 1. ],
           [0. , 0.5, 1. ]])
    """
    p = np.asarray(pred)
    y0, y1, ly0, ly1 = _linear_index(p.shape[0], size)
    x0, x1, lx0, lx1 = _linear_index(p.shape[1], size)
    div = 255.0 if p.dtype == np.uint8 else 1.0
    left = p[:, x0].astype(np.float64) / div
    right = p[:, x1].astype(np.float64) / div
    rows = lx0[None, :] * left + lx1[None, :] * right
    return ly0[:, None] * rows[y0] + ly1[:, None] * rows[y1]


def _check_prediction(pred: Any, sample_id: object, check_01: bool = True) -> np.ndarray:
    """What :func:`~selo_metrics.rrsis.intersection_union` refuses, before a resize."""
    arr, kind = _prediction(pred, sample_id)
    if check_01 and kind == "uint8" and int(arr.max()) == 1:
        raise SeLoInputError(
            "uint8 prediction holds only 0 and 1: a uint8 map is read as "
            "value / 255; pass a 0/1 mask as bool",
            sample_id=sample_id,
        )
    if kind == "float" and not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
        raise SeLoInputError(
            "float prediction has NaN or values outside [0, 1]", sample_id=sample_id
        )
    return np.asarray(pred) if kind == "bool" else arr


def rrsis_row(
    pred: Any,
    gt: Any,
    *,
    size: int | None = None,
    convention: str = "slm",
    sample_id: object = None,
    check_01: bool = True,
) -> dict[str, Any]:
    """One sample's RRSIS columns: ``{"iou", "inter", "union"}``.

    Parameters
    ----------
    pred : array_like
        The prediction map (see :func:`selo_metrics.rrsis.iou`).
    gt : ndarray or polygons
        A 0/1 mask (at its own resolution) or polygons (rasterised at the map's shape).
    size : int, optional
        Score at ``size x size`` as RMSIN does (see the module docstring); default: the
        GT's own resolution.
    convention : {"slm", "paper"}
        How polygons are rasterised.
    sample_id : object, optional
        Named in error messages.
    check_01 : bool
        As in :func:`selo_metrics.rrsis.intersection_union` (off for map files).

    Raises
    ------
    SeLoInputError
        As :func:`selo_metrics.rrsis.iou`; a size below 1.

    Examples
    --------
    >>> gt = np.zeros((8, 8), bool); gt[:4] = True
    >>> rrsis_row(gt.astype(np.uint8) * 255, gt)
    {'iou': 1.0, 'inter': 32, 'union': 32}
    >>> rrsis_row(gt.astype(np.uint8) * 255, gt, size=4)["union"]
    8
    """
    if size is None:
        inter, union = intersection_union(
            pred, gt, sample_id=sample_id, convention=convention, check_01=check_01
        )
    else:
        if int(size) < 1:
            raise SeLoInputError(f"the RRSIS size must be >= 1, got {size}", sample_id=sample_id)
        p = _check_prediction(pred, sample_id, check_01)
        own = gt.shape if _is_mask(gt) else p.shape  # a mask keeps its own resolution
        mask = _gt_mask(gt, own, convention, sample_id)
        fg = resize_bilinear(p, int(size)) > 0.5
        inter, union = intersection_union(
            fg, resize_nearest(mask, int(size)).view(bool), sample_id=sample_id
        )
    return {"iou": 0.0 if union == 0 else inter / union, "inter": inter, "union": union}


def rrsis_stats(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``miou``, ``oiou`` and ``prec@t`` of scored rows (their ``inter`` and ``union``).

    None when no row holds them.

    Examples
    --------
    >>> rrsis_stats([{"inter": 1, "union": 2}, {"inter": 3, "union": 3}])["oiou"]
    0.8
    """
    acc = RRSISAccumulator()
    for r in rows:
        if r.get("error") is None and r.get("union") is not None:
            acc.add(r["inter"], r["union"])
    out = acc.compute()
    out.pop("n")
    return out
