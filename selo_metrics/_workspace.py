"""Reusable map-sized buffers: fresh memory costs more than the kernels that fill it.

Each evaluation needs two uint8 buffers of the map's size: the GT mask, then the ping-pong
buffers of the box filter and the running maximum. Allocating them anew costs a page fault per
4 KiB on first touch; measured on this project's machines that was 10-25 ms of a 35-50 ms
evaluation of a 3000 x 3000 map. So each thread keeps its two buffers (flat, grown when a
larger map comes) for the next call, up to ``SELO_WORKSPACE_MB`` megabytes in all (default
512; 0 keeps nothing). :func:`clear_workspace` frees them.

The runner also decodes each map into a third buffer of its thread (:func:`reading_into`,
:func:`read_buffer`): into new arrays, the set's first 100 JPEG maps took 1.24-1.33 ns a
pixel to decode, 70-100 page faults a map; into the kept buffer, 1.12-1.18 ns
(``benchmarks/probe_floor.py decoders``, ``docs/performance.md``). Only the runner does this,
as it drops the map before it reads the next; :func:`selo_metrics.read_map` returns a new
array. A fourth is made only for the maps where the box filter's last pass cannot be left to
the blocks the peak search reads (:func:`spare_getter`). The buffers a thread keeps fit
``SELO_WORKSPACE_MB`` together: one that would not is used for its call and dropped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["clear_workspace", "map_buffers", "read_buffer", "reading_into", "spare_getter"]

_local = threading.local()


def _cap_bytes() -> int:
    return int(float(os.environ.get("SELO_WORKSPACE_MB", "512")) * 1024 * 1024)


def _fits(new_bytes: int, besides: str) -> bool:
    """Whether ``new_bytes`` more can be kept beside the thread's other kept buffers (all but
    ``besides``) within ``SELO_WORKSPACE_MB``."""
    flats = getattr(_local, "flats", None) if besides != "flats" else None
    read = getattr(_local, "read_flat", None) if besides != "read_flat" else None
    spare = getattr(_local, "spare", {}).get("flat") if besides != "spare" else None
    kept = sum(0 if a is None else a.size for a in (read, spare))
    return kept + (0 if flats is None else 2 * flats[0].size) + new_bytes <= _cap_bytes()


def map_buffers(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 ``shape`` arrays with undefined contents, reused across calls of a thread."""
    need = int(shape[0]) * int(shape[1])
    flats = getattr(_local, "flats", None)
    if flats is None or flats[0].size < need:
        flats = (np.empty(need, np.uint8), np.empty(need, np.uint8))
        _local.flats = flats if _fits(2 * need, besides="flats") else None
    return flats[0][:need].reshape(shape), flats[1][:need].reshape(shape)


@contextmanager
def reading_into() -> Iterator[None]:
    """Within this block, the calling thread's map reads decode into its reusable buffer.

    The map read inside holds that buffer: it must be dropped before the thread's next read.
    """
    before = getattr(_local, "reading", False)
    _local.reading = True
    try:
        yield
    finally:
        _local.reading = before


def read_buffer(shape: tuple[int, int]) -> np.ndarray:
    """A uint8 ``shape`` array for a decoder to fill: the thread's reusable one inside
    :func:`reading_into` (never one of :func:`map_buffers`), else a new one."""
    if not getattr(_local, "reading", False):
        return np.empty(shape, np.uint8)
    need = int(shape[0]) * int(shape[1])
    flat = getattr(_local, "read_flat", None)
    if flat is None or flat.size < need:
        _local.read_flat = None  # the old one is freed before the new one is made
        flat = np.empty(need, np.uint8)
        _local.read_flat = flat if _fits(need, besides="read_flat") else None
    return flat[:need].reshape(shape)


def spare_getter(shape: tuple[int, int]) -> Callable[[], np.ndarray]:
    """A function that gives a uint8 ``shape`` array reused across calls of the calling
    thread (never one of its other buffers), made when first asked for: it may be called
    from another thread, such as a job of the kernel threads working for this one."""
    box = getattr(_local, "spare", None)
    if box is None:
        box = _local.spare = {}
    need = int(shape[0]) * int(shape[1])
    flat = box.get("flat")
    fits = (flat is not None and flat.size >= need) or _fits(need, besides="spare")

    def get() -> np.ndarray:
        kept = box.get("flat")
        if kept is not None and kept.size >= need:
            return kept[:need].reshape(shape)
        box["flat"] = None  # the old one is freed before the new one is made
        new = np.empty(need, np.uint8)
        box["flat"] = new if fits else None
        return new.reshape(shape)

    return get


def clear_workspace() -> None:
    """Free the calling thread's reusable buffers (the map, read and spare buffers).

    Examples
    --------
    >>> clear_workspace()
    """
    _local.flats = None
    _local.read_flat = None
    _local.spare = {}
