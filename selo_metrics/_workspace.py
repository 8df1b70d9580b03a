"""Reusable map-sized buffers: fresh memory costs more than the kernels that fill it.

Each evaluation needs two uint8 buffers of the map's size: the GT mask, then the ping-pong
buffers of the box filter and the running maximum. Allocating them anew costs a page fault per
4 KiB on first touch; measured on this project's machines that was 10-25 ms of a 35-50 ms
evaluation of a 3000 x 3000 map. So each thread keeps its two buffers (flat, grown when a
larger map comes) for the next call, up to ``SELO_WORKSPACE_MB`` megabytes in all (default
512; 0 keeps nothing). :func:`clear_workspace` frees them.
"""

from __future__ import annotations

import os
import threading

import numpy as np

__all__ = ["clear_workspace", "map_buffers"]

_local = threading.local()


def _cap_bytes() -> int:
    return int(float(os.environ.get("SELO_WORKSPACE_MB", "512")) * 1024 * 1024)


def map_buffers(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 ``shape`` arrays with undefined contents, reused across calls of a thread."""
    need = int(shape[0]) * int(shape[1])
    flats = getattr(_local, "flats", None)
    if flats is None or flats[0].size < need:
        flats = (np.empty(need, np.uint8), np.empty(need, np.uint8))
        _local.flats = flats if 2 * need <= _cap_bytes() else None
    return flats[0][:need].reshape(shape), flats[1][:need].reshape(shape)


def clear_workspace() -> None:
    """Free the calling thread's reusable buffers.

    Examples
    --------
    >>> clear_workspace()
    """
    _local.flats = None
