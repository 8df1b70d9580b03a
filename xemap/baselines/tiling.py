"""SeLo and SeLo v2 tiling geometry: which boxes the official generators score, and the
checks of their inputs (no torch, no numba).

:func:`selo_boxes` (SeLo v1: two grids per scale), :func:`selo_v2_tiles` and
:func:`selo_v2_boxes` (SeLo v2: one grid, anchors around the best tiles), as the official
``generate_selo.py`` / ``generate_selo_v2.py`` cut them. :mod:`.selo` runs the generators.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SeLoBaselineError",
    "SeLoScaleWarning",
    "selo_boxes",
    "selo_v2_boxes",
    "selo_v2_tiles",
]


class SeLoBaselineError(ValueError):
    """Bad input to a SeLo generator (sizes, scales, boxes or scores)."""


class SeLoScaleWarning(UserWarning):
    """A scale larger than the scene was skipped."""


# --------------------------------------------------------------------------- validation


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SeLoBaselineError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise SeLoBaselineError(f"{name} must be >= 1, got {value}")
    return int(value)


def _odd_int(name: str, value) -> int:
    value = _positive_int(name, value)
    if value % 2 == 0:
        raise SeLoBaselineError(f"{name} must be odd, got {value}")
    return value


def _check_scores(scores, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SeLoBaselineError(f"the scorer returned non-numeric {what} scores") from exc
    arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.shape != (n,):
        raise SeLoBaselineError(
            f"the scorer must return {n} {what} scores, got an array of shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise SeLoBaselineError(f"the scorer returned non-finite {what} scores (nan or inf)")
    return arr


def _check_boxes(boxes, height: int, width: int) -> np.ndarray:
    arr = np.asarray(boxes)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise SeLoBaselineError(f"boxes must have shape (N, 4), got {arr.shape}")
    if arr.shape[0] and not np.issubdtype(arr.dtype, np.integer):
        raise SeLoBaselineError(f"boxes must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    r0, r1, c0, c1 = arr.T
    bad = (r0 < 0) | (c0 < 0) | (r1 > height) | (c1 > width) | (r1 <= r0) | (c1 <= c0)
    if bad.any():
        raise SeLoBaselineError(
            f"box {arr[np.argmax(bad)].tolist()} is empty or outside the {height} x {width} scene"
        )
    return arr


# --------------------------------------------------------------------------- geometry


def selo_boxes(height: int, width: int, *, scales: Sequence[int] = (256, 512, 768)) -> np.ndarray:
    """The boxes SeLo v1 scores: two grids per scale, border tiles moved back inside.

    Per scale ``s`` one grid starts at 0 and one at ``s - int(s / 2)``, both of stride
    ``s``; a tile reaching the border (``end >= size``) is moved to end at it. Identical
    boxes count once (the first is kept), in the official loop order (scales, then grids,
    then columns, then rows).

    Parameters
    ----------
    height, width : int
        Scene size in pixels.
    scales : sequence of int, optional
        Tile sizes. A scale larger than the scene's height or width is skipped with a
        :class:`SeLoScaleWarning` (the official code would wrap to negative indices).

    Returns
    -------
    numpy.ndarray
        ``(N, 4)`` int64 boxes ``(r0, r1, c0, c1)``.

    Raises
    ------
    SeLoBaselineError
        If a size or scale is not a positive int, or no scale fits the scene.

    Examples
    --------
    >>> selo_boxes(4, 6, scales=(4,)).tolist()
    [[0, 4, 0, 4], [0, 4, 2, 6]]
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    if isinstance(scales, (int, np.integer)):
        scales = (scales,)
    scales = [_positive_int("scale", s) for s in scales]
    if not scales:
        raise SeLoBaselineError("scales is empty")
    used = []
    for s in scales:
        if s > height or s > width:
            warnings.warn(
                f"scale {s} is larger than the {height} x {width} scene; skipped",
                SeLoScaleWarning,
                stacklevel=2,
            )
        else:
            used.append(s)
    if not used:
        raise SeLoBaselineError(f"no scale of {tuple(scales)} fits the {height} x {width} scene")
    parts = []
    for s in used:
        for start in (0, s - int(0.5 * s)):
            rows = _grid_starts(start, height, s)
            cols = _grid_starts(start, width, s)
            # official order: outer loop over columns, inner over rows
            c0 = np.repeat(cols, rows.size)
            r0 = np.tile(rows, cols.size)
            parts.append(np.stack([r0, r0 + s, c0, c0 + s], axis=1))
    boxes = np.concatenate(parts)
    return _unique_in_order(boxes)


def _grid_starts(start: int, size: int, step: int) -> np.ndarray:
    """Starts of ``range(start, size, step)`` with the border rule (``end >= size``)."""
    starts = np.arange(start, size, step, dtype=np.int64)
    return np.where(starts + step >= size, size - step, starts)


def _unique_in_order(boxes: np.ndarray) -> np.ndarray:
    """Drop repeated rows, keeping the first occurrence and the order."""
    if boxes.shape[0] == 0:
        return boxes.reshape(0, 4).astype(np.int64)
    _, first = np.unique(boxes, axis=0, return_index=True)
    return boxes[np.sort(first)].astype(np.int64)


def selo_v2_tiles(height: int, width: int, *, tile: int = 512) -> np.ndarray:
    """The tiles SeLo v2 scores first: one grid from 0, stride ``tile``, row-major.

    Examples
    --------
    >>> selo_v2_tiles(6, 5, tile=4).tolist()
    [[0, 4, 0, 4], [0, 4, 1, 5], [2, 6, 0, 4], [2, 6, 1, 5]]
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    tile = _positive_int("tile", tile)
    if tile > height or tile > width:
        raise SeLoBaselineError(
            f"the SeLo v2 tile ({tile}) is larger than the {height} x {width} scene"
        )
    rows = _grid_starts(0, height, tile)
    cols = _grid_starts(0, width, tile)
    r0 = np.repeat(rows, cols.size)
    c0 = np.tile(cols, rows.size)
    return _unique_in_order(np.stack([r0, r0 + tile, c0, c0 + tile], axis=1))


def selo_v2_boxes(
    height: int,
    width: int,
    kept_tiles: np.ndarray,
    *,
    tile: int = 512,
    half_sizes: Sequence[int] = (64, 128),
) -> np.ndarray:
    """The anchor boxes SeLo v2 scores around its kept tiles, de-duplicated.

    Around 9 anchors of each tile (its 4 corners, the 4 quarter points and the centre, the
    latter placed at ``tile * k / 4`` from the tile's start) a box of half-size ``h`` for
    each ``h`` in ``half_sizes``: start ``max(anchor - h, 0)`` (truncated to int), end
    ``min(start + 2 h, size)``, as the official code clips them.

    Examples
    --------
    >>> b = selo_v2_boxes(8, 8, np.array([[0, 8, 0, 8]]), tile=8, half_sizes=(2,))
    >>> b.shape, b[:3].tolist()
    ((8, 4), [[0, 4, 0, 4], [0, 4, 6, 8], [6, 8, 0, 4]])
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    tile = _positive_int("tile", tile)
    sizes = [_positive_int("half size", s) for s in half_sizes]
    kept = _check_boxes(np.asarray(kept_tiles).reshape(-1, 4), height, width)
    if kept.shape[0] == 0 or not sizes:
        return np.zeros((0, 4), np.int64)
    h0 = kept[:, 0].astype(np.float64)
    w0 = kept[:, 2].astype(np.float64)
    q1, q2, q3 = tile * 1 / 4, tile * 1 / 2, tile * 3 / 4
    ah = np.stack(
        [h0, h0, kept[:, 1], kept[:, 1], h0 + q1, h0 + q1, h0 + q3, h0 + q3, h0 + q2], axis=1
    )
    aw = np.stack(
        [w0, kept[:, 3], w0, kept[:, 3], w0 + q1, w0 + q3, w0 + q1, w0 + q3, w0 + q2], axis=1
    )
    parts = []
    for size in sizes:
        r0 = np.where(ah - size > 0, ah - size, 0.0).astype(np.int64)  # int() of a positive
        c0 = np.where(aw - size > 0, aw - size, 0.0).astype(np.int64)
        r1 = np.minimum(r0 + 2 * size, height)
        c1 = np.minimum(c0 + 2 * size, width)
        parts.append(np.stack([r0, r1, c0, c1], axis=-1))
    # official order: tile, then anchor, then size
    boxes = np.stack(parts, axis=2).reshape(-1, 4)
    return _unique_in_order(boxes)
