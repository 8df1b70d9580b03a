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
        map in [0, 1].
    sample_id : object, optional
        Named in error messages.

    Returns
    -------
    SeLoMap
        ``gray`` is the uint8 map (a float map truncated: ``uint8(prob * 255.0)``);
        ``prob`` is the float map when one was given (read by Rsu and the threshold), else
        None (then ``prob = gray / 255``).

    Raises
    ------
    SeLoInputError
        Not 2-D (an RGB array), empty, NaN or inf, negative, a float map above 1, an
        integer map above 255, or a non-numeric dtype.

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
    arr = np.asarray(prob_map)
    if arr.ndim != 2:
        raise SeLoInputError(f"map must be 2-D (H, W), got shape {arr.shape}", sample_id=sample_id)
    if arr.size == 0:
        raise SeLoInputError(f"map is empty (shape {arr.shape})", sample_id=sample_id)
    if arr.dtype == np.uint8:
        return SeLoMap(np.ascontiguousarray(arr), None)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise SeLoInputError(
            f"map dtype {arr.dtype} is not supported (expected uint8 or float in [0, 1])",
            sample_id=sample_id,
        )
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise SeLoInputError(f"map has negative values (min {lo})", sample_id=sample_id)
        if hi > 255:
            raise SeLoInputError(
                f"integer map has values above 255 (max {hi})", sample_id=sample_id
            )
        return SeLoMap(np.ascontiguousarray(arr, dtype=np.uint8), None)
    prob = np.ascontiguousarray(arr, dtype=np.float64)
    lo, hi = float(prob.min()), float(prob.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(prob)))
        raise SeLoInputError(f"map has {bad} NaN or infinite value(s)", sample_id=sample_id)
    if lo < 0:
        raise SeLoInputError(f"map has negative values (min {lo:g})", sample_id=sample_id)
    if hi > 1:
        raise SeLoInputError(
            f"float map has values above 1 (max {hi:g}); pass uint8 0..255 or a float map "
            "in [0, 1]",
            sample_id=sample_id,
        )
    gray = (prob * 255.0).astype(np.uint8)
    return SeLoMap(gray, prob)
