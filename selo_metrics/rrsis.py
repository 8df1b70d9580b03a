"""The RRSIS field's metrics: per-sample IoU, mIoU, oIoU and precision@t, exact and fast.

Referring remote-sensing image segmentation papers (LAVT, RMSIN, CroBIM, S4ECA) all score
with the loop of RMSIN / LAVT ``test.py`` (``docs/rrsis.md``). Per referring expression:

* the prediction's foreground is the 2-class argmax, i.e. ``p(fg) > 0.5`` (a tie is
  background); a bool mask is taken as it is, a float map is ``p(fg)``, a uint8 map is
  ``value / 255`` (so exactly the values ``>= 128``);
* ``I = sum(pred & gt)``, ``U = sum(pred | gt)``, and ``IoU = I / U``, **0.0 when U == 0**
  (an empty prediction on an empty GT scores 0, not 1).

Over a test set: ``miou`` is the mean of the per-sample IoUs, ``oiou`` the cumulative
``I / U``, ``prec@t`` the share of samples whose IoU is ``>= t``. Papers print them x 100
with 2 decimals; here they are fractions.

The counts run in one numba pass over the prediction in its own dtype (no float or
thresholded copy of the map). :class:`RRSISAccumulator` keeps integers only (the IoU sum in
units of ``2**-1074``, the smallest float64 step), so updates and merges in any order give
bit-identical results, and ``miou`` is the correctly rounded mean.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._kernels.iou import iou_counts_float, iou_counts_u8
from .errors import SeLoInputError
from .geometry import as_polygons
from .io import read_map
from .raster import gt_mask

__all__ = ["DEFAULT_THRESHOLDS", "RRSISAccumulator", "intersection_union", "iou", "read_mask"]

DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
_ULP_BITS = 1074  # every float64 in [0, 1] is an integer multiple of 2**-1074


def _prediction(pred: Any, sample_id: object) -> tuple[np.ndarray, str]:
    """The prediction as a C-contiguous array the kernels read, and its kind."""
    arr = np.asarray(pred)
    if arr.ndim != 2:
        raise SeLoInputError(
            f"prediction must be 2-D (H, W), got shape {arr.shape}", sample_id=sample_id
        )
    if arr.size == 0:
        raise SeLoInputError(f"prediction is empty (shape {arr.shape})", sample_id=sample_id)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8), "bool"
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr), "uint8"
    if arr.dtype in (np.float32, np.float64):
        return np.ascontiguousarray(arr), "float"
    if arr.dtype == np.float16:
        return arr.astype(np.float32), "float"  # exact: every float16 is a float32
    raise SeLoInputError(
        f"prediction dtype {arr.dtype} is not supported: pass a bool mask, a uint8 map "
        "(0..255, read as value / 255) or a float probability map in [0, 1] (an integer "
        "0/1 mask such as an argmax: pass it as .astype(bool))",
        sample_id=sample_id,
    )


def _gt_array(gt: np.ndarray, shape: tuple[int, ...], sample_id: object) -> np.ndarray:
    if gt.ndim != 2:
        raise SeLoInputError(
            f"GT mask must be 2-D (H, W), got shape {gt.shape}", sample_id=sample_id
        )
    if gt.shape != shape:
        raise SeLoInputError(
            f"prediction shape {shape} and GT mask shape {gt.shape} differ", sample_id=sample_id
        )
    if gt.dtype == np.bool_:
        return np.ascontiguousarray(gt).view(np.uint8)
    if gt.dtype == np.uint8:
        return np.ascontiguousarray(gt)  # 0/1 checked by the kernel's OR of the values
    lo, hi = int(gt.min()), int(gt.max())
    if lo < 0 or hi > 1:
        raise SeLoInputError(
            f"GT mask must hold only 0 and 1, found values in [{lo}, {hi}]", sample_id=sample_id
        )
    return gt.astype(np.uint8)


def _is_mask(gt: Any) -> bool:
    """A GT given as a mask: a bool or integer array (anything else is polygons)."""
    return isinstance(gt, np.ndarray) and (
        gt.dtype == np.bool_ or np.issubdtype(gt.dtype, np.integer)
    )


def _gt_mask(gt: Any, shape: tuple[int, int], convention: str, sample_id: object) -> np.ndarray:
    """The GT as a C-contiguous uint8 0/1 ``(H, W)`` mask (a mask, or polygons rasterised)."""
    if _is_mask(gt):
        return _gt_array(gt, shape, sample_id)
    if isinstance(gt, np.ndarray) and gt.ndim == 2 and gt.shape == shape:
        raise SeLoInputError(
            f"GT mask dtype {gt.dtype} is not supported: pass a bool or 0/1 "
            "integer mask, or a list of polygons",
            sample_id=sample_id,
        )
    if isinstance(gt, list | tuple) and len(gt) == 0:
        return np.zeros(shape, np.uint8)  # no polygon: an empty GT
    polys = as_polygons(gt, sample_id=sample_id)
    try:
        return gt_mask(polys, shape, convention=convention)
    except SeLoInputError as exc:
        raise exc.with_sample(sample_id) from None
    except ValueError as exc:
        raise SeLoInputError(str(exc), sample_id=sample_id) from None


def intersection_union(
    pred: Any,
    gt: Any,
    *,
    sample_id: object = None,
    convention: str = "slm",
    check_01: bool = True,
) -> tuple[int, int]:
    """Intersection and union pixel counts of a prediction's foreground and the GT.

    Parameters
    ----------
    pred, gt, sample_id, convention
        As in :func:`iou`.
    check_01 : bool
        Refuse a uint8 array that holds only 0 and 1 (a 0/1 mask in the wrong dtype, which
        would score as all background). The runner turns it off for map *files*: a PNG of a
        nearly empty probability map legitimately holds only 0 and 1 (probabilities below
        1.5 / 255).

    Returns
    -------
    tuple of int
        ``(I, U)``: ``sum(fg & gt)`` and ``sum(fg | gt)``.

    Examples
    --------
    >>> fg = np.array([[0.9, 0.5], [0.2, 0.7]])
    >>> intersection_union(fg, np.array([[1, 1], [0, 0]], np.uint8))
    (1, 3)
    """
    p, kind = _prediction(pred, sample_id)
    g = _gt_mask(gt, p.shape, convention, sample_id)
    if kind == "float":
        inter, union, bad, _, or_gt = iou_counts_float(p, g)
    else:
        inter, union, bad, or_pred, or_gt = iou_counts_u8(p, g, 1 if kind == "bool" else 128)
        if check_01 and kind == "uint8" and or_pred == 1:
            raise SeLoInputError(
                "uint8 prediction holds only 0 and 1: a uint8 map is read as value / 255, so "
                "this would be all background; pass a 0/1 mask as bool (pred.astype(bool)) "
                "or a 0/255 map",
                sample_id=sample_id,
            )
    if bad:
        nan = int(np.count_nonzero(np.isnan(p)))
        raise SeLoInputError(
            f"float prediction has {bad} value(s) outside [0, 1] ({nan} NaN; min "
            f"{np.nanmin(p) if nan < p.size else float('nan'):g}, max "
            f"{np.nanmax(p) if nan < p.size else float('nan'):g}); pass probabilities",
            sample_id=sample_id,
        )
    if or_gt > 1:
        raise SeLoInputError(
            f"GT mask must hold only 0 and 1, found values up to {int(g.max())}",
            sample_id=sample_id,
        )
    return inter, union


def iou(
    pred: Any,
    gt: Any,
    *,
    sample_id: object = None,
    convention: str = "slm",
    check_01: bool = True,
) -> float:
    """The IoU of a prediction's foreground and the GT, as the RRSIS evaluation loop.

    Parameters
    ----------
    pred : array_like
        ``(H, W)``: a bool mask; a float32 / float64 (or float16) probability map in
        [0, 1], foreground where ``> 0.5`` (a tie is background); or a uint8 map read as
        ``value / 255``, i.e. foreground where ``value >= 128``. A uint8 map holding only 0
        and 1 is refused (it is a mask in the wrong dtype: pass it as bool) unless
        ``check_01=False``.
    gt : ndarray or polygons
        A bool or 0/1 integer ``(H, W)`` mask, or polygons (anything
        :func:`selo_metrics.as_polygons` takes; an empty list is an empty GT) rasterised
        at the prediction's shape with :func:`selo_metrics.gt_mask`.
    sample_id : object, optional
        Named in error messages.
    convention : {"slm", "paper"}, default "slm"
        How polygons are rasterised (:func:`selo_metrics.gt_mask`); unused for a mask.
    check_01 : bool, default True
        Refuse a uint8 map of only 0 and 1 (see :func:`intersection_union`; the runner
        turns it off for map files).

    Returns
    -------
    float
        ``I / U``, and ``0.0`` when the union is empty.

    Raises
    ------
    SeLoInputError
        Not 2-D, empty, different shapes, an unsupported dtype, NaN or values outside
        [0, 1] in a float map, a GT mask with values other than 0 and 1, bad polygons.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((4, 4), bool); gt[:2, :2] = True
    >>> pred = np.zeros((4, 4), np.uint8); pred[:2, :] = 200
    >>> iou(pred, gt)
    0.5
    >>> iou(np.zeros((4, 4), bool), np.zeros((4, 4), bool))  # empty union
    0.0
    >>> iou(pred, gt[:3], sample_id="q7")
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: sample 'q7': prediction shape (4, 4) and GT mask ...
    """
    inter, union = intersection_union(
        pred, gt, sample_id=sample_id, convention=convention, check_01=check_01
    )
    return 0.0 if union == 0 else inter / union


def read_mask(path: str | os.PathLike, *, sample_id: object = None) -> np.ndarray:
    """Read a GT mask file: foreground where its gray value is not 0; a bool ``(H, W)`` array.

    The file is decoded by :func:`selo_metrics.read_map` (PNG, JPEG, TIFF, ``.npy``; colour
    made gray as OpenCV does), so 0/1 and 0/255 masks read alike.

    Raises
    ------
    MapReadError
        The file is missing, unreadable or of an unsupported kind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.png"
    >>> Image.fromarray(np.array([[0, 1], [255, 0]], np.uint8)).save(p)
    >>> read_mask(p).tolist()
    [[False, True], [True, False]]
    """
    return np.asarray(read_map(path, sample_id=sample_id)) != 0


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(t) for t in thresholds)
    if not out:
        raise ValueError("thresholds must not be empty")
    for t in out:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold {t!r} is not in [0, 1]")
    if len(set(out)) != len(out):
        raise ValueError(f"thresholds must be distinct, got {out}")
    return out


class RRSISAccumulator:
    """Accumulate the RRSIS metrics over a test set: exact, picklable, merge order-free.

    Parameters
    ----------
    thresholds : sequence of float, default (0.5, 0.6, 0.7, 0.8, 0.9)
        The IoU thresholds of ``prec@t`` (a sample counts when its IoU ``>= t``).

    Notes
    -----
    The state is integers only: the sample count, the cumulative I and U, one counter per
    threshold, and the sum of the per-sample float64 IoUs in units of ``2**-1074`` (exact).
    ``miou`` is that sum divided by ``n``, rounded once; the loop's ``np.mean`` sums in
    floating point and may differ from it in the last bits. ``compute()`` on an empty
    accumulator gives None for every metric; ``oiou`` is 0.0 when every union was empty.

    Examples
    --------
    >>> import numpy as np, pickle
    >>> gt = np.zeros((4, 4), bool); gt[:2, :2] = True
    >>> a, b = RRSISAccumulator(), RRSISAccumulator()
    >>> a.update(gt, gt), b.update(np.zeros((4, 4), bool), gt)
    (1.0, 0.0)
    >>> r = pickle.loads(pickle.dumps(a)).merge(b).compute()
    >>> r["n"], r["miou"], r["oiou"], r["prec@0.5"], r["prec@0.9"]
    (2, 0.5, 0.5, 0.5, 0.5)
    """

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> None:
        self.thresholds = _check_thresholds(thresholds)
        self.reset()

    def reset(self) -> None:
        """Forget every sample."""
        self._n = 0
        self._cum_i = 0
        self._cum_u = 0
        self._iou_units = 0
        self._correct = [0] * len(self.thresholds)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"RRSISAccumulator({self._n} samples, thresholds={self.thresholds})"

    def update(
        self, pred: Any, gt: Any, *, sample_id: object = None, convention: str = "slm"
    ) -> float:
        """Score one prediction against its GT (see :func:`iou`); return its IoU.

        Raises
        ------
        SeLoInputError
            As :func:`iou`; nothing is added then.
        """
        inter, union = intersection_union(pred, gt, sample_id=sample_id, convention=convention)
        return self.add(inter, union)

    def add(self, inter: int, union: int) -> float:
        """Add one sample from its counts ``I`` and ``U``; return its IoU.

        Examples
        --------
        >>> acc = RRSISAccumulator()
        >>> acc.add(3, 4), acc.add(0, 0), acc.compute()["oiou"]
        (0.75, 0.0, 0.75)
        """
        inter, union = int(inter), int(union)
        if not 0 <= inter <= union:
            raise ValueError(f"need 0 <= I <= U, got I={inter}, U={union}")
        value = 0.0 if union == 0 else inter / union
        num, den = value.as_integer_ratio()
        self._iou_units += num << (_ULP_BITS - den.bit_length() + 1)
        self._n += 1
        self._cum_i += inter
        self._cum_u += union
        for k, t in enumerate(self.thresholds):
            self._correct[k] += value >= t
        return value

    def merge(self, other: RRSISAccumulator) -> RRSISAccumulator:
        """Add every sample of ``other`` (same thresholds) to this one and return it."""
        if not isinstance(other, RRSISAccumulator):
            raise TypeError(f"cannot merge {type(other).__name__} into RRSISAccumulator")
        if other.thresholds != self.thresholds:
            raise ValueError(
                f"cannot merge accumulators with thresholds {other.thresholds} "
                f"into {self.thresholds}"
            )
        self._n += other._n
        self._cum_i += other._cum_i
        self._cum_u += other._cum_u
        self._iou_units += other._iou_units
        self._correct = [a + b for a, b in zip(self._correct, other._correct, strict=True)]
        return self

    def compute(self) -> dict[str, Any]:
        """``{"n", "miou", "oiou", "prec@0.5", ...}`` as fractions (None when n is 0)."""
        n = self._n
        out: dict[str, Any] = {"n": n}
        if n == 0:
            out.update({"miou": None, "oiou": None})
            out.update({f"prec@{t!r}": None for t in self.thresholds})
            return out
        out["miou"] = self._iou_units / (n << _ULP_BITS)  # int / int: correctly rounded
        out["oiou"] = self._cum_i / self._cum_u if self._cum_u else 0.0
        for t, c in zip(self.thresholds, self._correct, strict=True):
            out[f"prec@{t!r}"] = c / n
        return out
