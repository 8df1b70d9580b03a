"""Correlation maps: validation and the uint8 view the official code works on.

The official code reads a uint8 gray map ``g``, uses ``prob = g / 255.0`` for Rsu and for the
0.5 threshold, and recovers ``uint8(prob * 255.0)`` (truncation) for the attention stage.
A uint8 map is used as it is (integer sums, exact); a float map in [0, 1] keeps its float
values for Rsu and the threshold and is truncated to uint8 for the attention stage, like
the official code does with any float map.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._kernels.floatmap import float_map_to_gray
from .errors import SeLoInputError

__all__ = ["SeLoMap", "as_map"]


class SeLoMap(NamedTuple):
    """A validated map: ``gray`` (uint8, C-contiguous) and ``prob`` (float input or None)."""

    gray: np.ndarray
    prob: np.ndarray | None


def as_map(prob_map: np.ndarray, *, sample_id: object = None) -> SeLoMap:
    """Validate a correlation map and give its uint8 form.

    Parameters
    ----------
    prob_map : array_like
        2-D uint8 map (0..255), a 2-D integer map with values in 0..255, or a 2-D float
        map in [0, 1]. A ``numpy.ma`` masked array is scored as its data when no pixel is
        masked, and refused when one is (the metrics have no notion of a missing pixel).
    sample_id : object, optional
        Named in error messages.

    Returns
    -------
    SeLoMap
        ``gray`` is the uint8 map (a float map truncated: ``uint8(prob * 255.0)``);
        ``prob`` is the float map when one was given (read by Rsu and the threshold), else
        None (then ``prob = gray / 255``). A float32 or float64 map is kept in its own
        dtype, not copied (float16 becomes float32, longer floats float64).

    Raises
    ------
    SeLoInputError
        Not 2-D (an RGB array), empty, NaN or inf, negative, a float map above 1, an
        integer map above 255, a dtype that is not a real number (bool, complex, dates,
        time spans, strings, objects), or a masked array with masked pixels.

    Examples
    --------
    >>> as_map(np.array([[0.0, 0.5], [1.0, 0.25]])).gray
    array([[  0, 127],
           [255,  63]], dtype=uint8)
    >>> as_map(np.zeros((4, 4, 3), np.uint8), sample_id=7)
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: sample 7: map must be 2-D (H, W), got shape (4, 4, 3)
    """
    if isinstance(prob_map, np.ma.MaskedArray):
        masked = int(np.ma.count_masked(prob_map))
        if masked:
            raise SeLoInputError(
                f"map is a masked array with {masked} masked pixel(s); the SeLo metrics have "
                "no notion of a missing pixel: fill them (prob_map.filled(0)) or pass "
                "prob_map.data",
                sample_id=sample_id,
            )
        prob_map = prob_map.data
    try:
        arr = np.asarray(prob_map)
    except (TypeError, ValueError) as exc:
        raise SeLoInputError(f"map is not an array of numbers ({exc})",
                             sample_id=sample_id) from None
    if arr.ndim != 2:
        raise SeLoInputError(f"map must be 2-D (H, W), got shape {arr.shape}", sample_id=sample_id)
    if arr.size == 0:
        raise SeLoInputError(f"map is empty (shape {arr.shape})", sample_id=sample_id)
    if arr.dtype == np.uint8:
        return SeLoMap(np.ascontiguousarray(arr), None)
    if arr.dtype.kind not in "uif":  # bool, complex, timedelta, datetime, str, object, void
        raise SeLoInputError(
            f"map dtype {arr.dtype} is not supported (expected uint8 or float in [0, 1])",
            sample_id=sample_id,
        )
    if arr.dtype.kind in "ui":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise SeLoInputError(f"map has negative values (min {lo})", sample_id=sample_id)
        if hi > 255:
            raise SeLoInputError(
                f"integer map has values above 255 (max {hi})", sample_id=sample_id
            )
        return SeLoMap(np.ascontiguousarray(arr, dtype=np.uint8), None)
    if arr.dtype not in (np.float32, np.float64):
        # float16 widens exactly; a longer float rounds to float64, as the metrics compute
        arr = arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
    prob = np.ascontiguousarray(arr)
    gray, bad = float_map_to_gray(prob)
    if bad:
        _refuse_float_map(prob, sample_id)
    return SeLoMap(gray, prob)


def _refuse_float_map(prob: np.ndarray, sample_id: object) -> None:
    """Name what is wrong with a float map that has values outside [0, 1]."""
    finite = np.isfinite(prob)
    if not finite.all():
        bad = int(prob.size - np.count_nonzero(finite))
        raise SeLoInputError(f"map has {bad} NaN or infinite value(s)", sample_id=sample_id)
    lo, hi = prob.min(), prob.max()  # shown in the map's own precision, every digit
    if lo < 0:
        raise SeLoInputError(f"map has negative values (min {lo})", sample_id=sample_id)
    raise SeLoInputError(
        f"float map has values above 1 (max {hi}); pass uint8 0..255 or a float map in [0, 1]",
        sample_id=sample_id,
    )
