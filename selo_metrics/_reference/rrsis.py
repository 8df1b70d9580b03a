"""Plain-numpy twins of the RRSIS kernels and of the RMSIN / LAVT evaluation loop.

Written from the field's ``test.py`` (``Lsan2401/RMSIN``, ``yz93/LAVT-RIS``) and from
``docs/rrsis.md``, not from :mod:`selo_metrics.rrsis`; the tests compare the two.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["counts_ref", "foreground_ref", "rmsin_loop"]


def foreground_ref(pred: np.ndarray) -> np.ndarray:
    """The 2-class argmax of a prediction: foreground where ``p(fg) > 0.5``.

    A bool mask is its own foreground; a uint8 map is the probability ``value / 255``;
    a float map is the probability itself.

    Examples
    --------
    >>> foreground_ref(np.array([127, 128], np.uint8)).tolist()
    [False, True]
    """
    pred = np.asarray(pred)
    if pred.dtype == np.bool_:
        return pred.copy()
    if pred.dtype == np.uint8:
        return pred.astype(np.float64) / 255.0 > 0.5
    return pred.astype(np.float64) > 0.5


def counts_ref(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int]:
    """``(I, U)`` as RMSIN's ``computeIoU``: ``sum(pred & gt)``, ``sum(pred | gt)``.

    Examples
    --------
    >>> counts_ref(np.array([[True, False]]), np.array([[1, 1]], np.uint8))
    (1, 2)
    """
    fg = foreground_ref(pred)
    gt = np.asarray(gt)
    inter = np.sum(np.logical_and(fg, gt))
    union = np.sum(np.logical_or(fg, gt))
    return int(inter), int(union)


def rmsin_loop(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9),
) -> dict[str, float]:
    """The evaluation loop of RMSIN's ``test.py``, one ``(pred, gt)`` pair per sentence.

    ``pred`` is whatever :func:`foreground_ref` reads; ``gt`` a 0/1 mask of the same shape.
    Returns the loop's numbers as fractions (``test.py`` prints them x 100): ``miou`` is
    ``np.mean`` of the per-sample IoUs, ``oiou`` ``cum_I / cum_U``, ``prec@t`` the share of
    samples with IoU ``>= t``.

    Examples
    --------
    >>> gt = np.array([[1, 1, 0, 0]], np.uint8)
    >>> r = rmsin_loop([(np.array([[1.0, 0, 0, 0]]), gt), (np.zeros((1, 4)), 0 * gt)])
    >>> r["miou"], r["oiou"], r["prec@0.5"], r["n"]
    (0.25, 0.5, 0.5, 2)
    """
    cum_i, cum_u = 0, 0
    seg_correct = np.zeros(len(thresholds), dtype=np.int32)
    seg_total = 0
    mean_iou = []
    for pred, gt in pairs:
        output_mask = foreground_ref(pred)
        inter, union = counts_ref(output_mask, gt)
        this_iou = 0.0 if union == 0 else inter * 1.0 / union
        mean_iou.append(this_iou)
        cum_i += inter
        cum_u += union
        for k, t in enumerate(thresholds):
            seg_correct[k] += this_iou >= t
        seg_total += 1
    out: dict[str, float] = {
        "n": seg_total,
        "miou": float(np.mean(np.array(mean_iou))) if mean_iou else float("nan"),
        "oiou": cum_i / cum_u if cum_u else float("nan"),
    }
    for k, t in enumerate(thresholds):
        out[f"prec@{t}"] = float(seg_correct[k]) / seg_total if seg_total else float("nan")
    out["ious"] = mean_iou  # type: ignore[assignment]
    return out
