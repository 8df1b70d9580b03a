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
``SELO_WORKSPACE_MB`` together: one that would not is used for its call and dropped. All
four are kept one way, by name (:func:`kept_bytes` says what a thread holds).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["clear_workspace", "kept_bytes", "map_buffers", "read_buffer", "reading_into",
           "spare_getter"]

_local = threading.local()

#: the buffers a thread keeps: the two map buffers, the read buffer, the spare
_NAMES = ("map", "map2", "read", "spare")


def _cap_bytes() -> int:
    return int(float(os.environ.get("SELO_WORKSPACE_MB", "512")) * 1024 * 1024)


def _kept() -> dict[str, np.ndarray | None]:
    """The calling thread's kept flat buffers by name (None where it keeps none); every name
    is there from the start, so a buffer made on another thread changes no key."""
    kept = getattr(_local, "kept", None)
    if kept is None:
        kept = _local.kept = dict.fromkeys(_NAMES)
    return kept


def _flat(kept: dict[str, np.ndarray | None], name: str, need: int) -> np.ndarray:
    """``need`` bytes of the buffer ``kept[name]``: in it when it is large enough, else in a
    new one (the old one freed first), kept only if all the kept buffers then fit
    ``SELO_WORKSPACE_MB``; one that would not is used for its call and dropped."""
    flat = kept[name]
    if flat is not None and flat.size >= need:
        return flat[:need]
    kept[name] = None
    flat = np.empty(need, np.uint8)
    if sum(a.size for a in kept.values() if a is not None) + need <= _cap_bytes():
        kept[name] = flat
    return flat


def kept_bytes() -> dict[str, int]:
    """Bytes of each buffer the calling thread keeps, by name (0 where it keeps none).

    Examples
    --------
    >>> clear_workspace()
    >>> kept_bytes()
    {'map': 0, 'map2': 0, 'read': 0, 'spare': 0}
    >>> a, b = map_buffers((30, 40))
    >>> kept_bytes()["map"], kept_bytes()["map2"]
    (1200, 1200)
    """
    return {name: 0 if a is None else a.size for name, a in _kept().items()}


def map_buffers(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 ``shape`` arrays with undefined contents, reused across calls of a thread."""
    need = int(shape[0]) * int(shape[1])
    kept = _kept()
    return _flat(kept, "map", need).reshape(shape), _flat(kept, "map2", need).reshape(shape)


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
    return _flat(_kept(), "read", need).reshape(shape)


def spare_getter(shape: tuple[int, int]) -> Callable[[], np.ndarray]:
    """A function that gives a uint8 ``shape`` array reused across calls of the calling
    thread (never one of its other buffers), made when first asked for: it may be called
    from another thread, such as a job of the kernel threads working for this one."""
    kept = _kept()  # this thread's, wherever the function is called
    need = int(shape[0]) * int(shape[1])
    return lambda: _flat(kept, "spare", need).reshape(shape)


def clear_workspace() -> None:
    """Free the calling thread's reusable buffers (the map, read and spare buffers).

    Examples
    --------
    >>> clear_workspace()
    """
    _local.kept = dict.fromkeys(_NAMES)
