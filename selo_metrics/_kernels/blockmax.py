"""Numba kernel: the largest value of one box-filter pass over a 32 x 32 block, in registers.

:func:`selo_metrics._kernels.lastpass.lazy_last_pass` needs the last pass's maximum in about
5 % of the blocks of a map. :func:`selo_metrics._kernels.boxrect.rect_pass` computes every
pixel of a rectangle, with a running sum along each output row (one addition after another,
about half of its time) and short loops whose set-up costs as much as their work. Here the
block's maximum comes from one function of LLVM IR (:func:`_make_block_max`) that keeps all
of its state in vector registers:

* the column sums of the block's ``32 + k - 1`` source columns over ``k`` rows, as 16-bit
  lanes (at most ``255 k``), updated by the entering and the leaving row at each output row;
* each output row's 32 window sums by doubling: sums of 2, 4, 8, ... consecutive column sums
  (32-bit lanes, one lane shift and one addition per register and level), added where ``k``
  has a bit (``50 = 32 + 16 + 2``: three terms);
* the running maximum of those sums, per column.

A pass's pixel is ``rint(S / k**2)`` of its window sum ``S``: a non-decreasing function of
``S``, so the block's maximum is that of its largest window sum, rounded once, as the full
filter rounds it (float32 where :func:`selo_metrics._kernels.box.float32_rounding_is_exact`,
float64 otherwise). The sums are exact integers, so the result is the very byte the full pass
gives (tested against the plain-numpy twin of the spec).

The kernel is built for the official box size (:data:`FAST_BOX`) and blocks of 32: other
sizes, and blocks whose windows cross the map's left or right border (reflected columns),
are computed by ``rect_pass`` (:func:`fast_applies` says which).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from . import CACHE
from .borders import reflect101

__all__ = ["FAST_BLOCK", "FAST_BOX", "READ", "block_pass_max", "fast_applies", "row_offsets"]

#: the box size the register kernel is built for (the official 50)
FAST_BOX = 50
#: its block side: 32 output columns, two registers of 16 32-bit lanes
FAST_BLOCK = 32

_I8x32 = ir.VectorType(ir.IntType(8), 32)
_I16x32 = ir.VectorType(ir.IntType(16), 32)
_I32x16 = ir.VectorType(ir.IntType(32), 16)


def _plan(k: int, out: int = FAST_BLOCK) -> tuple[list[int], dict[int, int], list[int]]:
    """The doubling for window ``k``: the bits of ``k`` (highest first), the lane offset of
    each bit's term (the sum of the bits above it), and the 16-lane registers each level
    needs so that its lanes cover every lane read from it."""
    top = k.bit_length() - 1
    bits, offsets, at = [], {}, 0
    for s in range(top, -1, -1):
        if k >> s & 1:
            bits.append(s)
            offsets[s] = at
            at += 1 << s
    need = [0] * (top + 1)  # lanes of each level that are read
    for s in bits:
        need[s] = max(need[s], offsets[s] + out)
    for s in range(top, 0, -1):  # level s, lane i = level s - 1, lanes i and i + 2**(s - 1)
        need[s - 1] = max(need[s - 1], need[s] + (1 << (s - 1)))
    return bits, offsets, [-(-n // 16) for n in need]


def _lanes(builder, regs, at):
    """Lanes ``at .. at + 15`` of the vector held in the 16-lane registers ``regs``."""
    q, o = divmod(at, 16)
    if o == 0:
        return regs[q]
    second = regs[q + 1] if q + 1 < len(regs) else ir.Constant(_I32x16, None)  # lanes unread
    mask = ir.Constant(ir.VectorType(ir.IntType(32), 16), list(range(o, o + 16)))
    return builder.shuffle_vector(regs[q], second, mask)


def _make_block_max(k: int):
    """An intrinsic ``(src, rows, col, nrows, acc)`` for window ``k``, and the bytes it reads
    of each source row. Over the output rows ``0 .. nrows - 1`` of a block whose source rows
    start at the byte offsets ``rows[0 .. nrows + k - 2]`` plus ``col`` from ``src``'s first
    byte (uint8, unit column stride), the largest window sum of each of its 32 output columns
    goes into ``acc[0:32]`` (int32). Lanes past ``32 + k - 1`` are loaded but never reach an
    output."""
    bits, offsets, regs = _plan(k)
    ncs = -(-regs[0] // 2)  # 32-lane column-sum registers

    def codegen(context, builder, sig, args):
        src_t, rows_t, _, _, acc_t = sig.args
        src_v, rows_v, col, nrows, acc_v = args
        i64 = ir.IntType(64)
        data = context.make_array(src_t)(context, builder, src_v).data
        rows = context.make_array(rows_t)(context, builder, rows_v).data
        acc = context.make_array(acc_t)(context, builder, acc_v).data
        colsum = [cgutils.alloca_once_value(builder, ir.Constant(_I16x32, [0] * 32))
                  for _ in range(ncs)]
        best = [cgutils.alloca_once_value(builder, ir.Constant(_I32x16, [0] * 16))
                for _ in range(FAST_BLOCK // 16)]

        def source_row(i):
            start = builder.add(builder.load(builder.gep(rows, [i])), col)
            base = builder.gep(data, [start])
            return [builder.zext(builder.load(builder.bitcast(
                builder.gep(base, [ir.Constant(i64, 32 * j)]), _I8x32.as_pointer()), align=1),
                _I16x32) for j in range(ncs)]

        k_v = ir.Constant(i64, k)
        with cgutils.for_range(builder, k_v) as loop:  # the first output row's column sums
            for cs, v in zip(colsum, source_row(loop.index), strict=True):
                builder.store(builder.add(builder.load(cs), v), cs)
        halves = [ir.Constant(ir.VectorType(ir.IntType(32), 16), list(range(h, h + 16)))
                  for h in (0, 16)]
        undef16 = ir.Constant(_I16x32, None)
        with cgutils.for_range(builder, nrows) as loop:
            y = loop.index
            with builder.if_then(builder.icmp_signed(">", y, ir.Constant(i64, 0))):
                enter = source_row(builder.add(y, ir.Constant(i64, k - 1)))
                leave = source_row(builder.sub(y, ir.Constant(i64, 1)))
                for cs, a, b in zip(colsum, enter, leave, strict=True):
                    builder.store(builder.sub(builder.add(builder.load(cs), a), b), cs)
            level = []
            for cs in colsum:
                v = builder.load(cs)
                for h in halves:
                    if len(level) < regs[0]:
                        level.append(builder.zext(builder.shuffle_vector(v, undef16, h),
                                                  _I32x16))
            levels = [level]
            for s in range(1, len(regs)):
                d = 1 << (s - 1)
                prev = levels[-1]
                levels.append([builder.add(prev[r], _lanes(builder, prev, 16 * r + d))
                               for r in range(regs[s])])
            for r, slot in enumerate(best):
                total = None
                for s in bits:
                    v = _lanes(builder, levels[s], offsets[s] + 16 * r)
                    total = v if total is None else builder.add(total, v)
                old = builder.load(slot)
                builder.store(builder.select(builder.icmp_signed(">", total, old), total, old),
                              slot)
        for r, slot in enumerate(best):
            at = builder.gep(acc, [ir.Constant(i64, 16 * r)])
            builder.store(builder.load(slot), builder.bitcast(at, _I32x16.as_pointer()), align=4)
        return context.get_dummy_value()

    def block_max(typingctx, src, rows, col, nrows, acc):
        return types.none(src, rows, col, nrows, acc), codegen

    return intrinsic(block_max), 32 * ncs


#: the kernel for FAST_BOX, and the bytes it reads of each source row (from the window's
#: first column): 96, three 32-byte registers for the 81 columns it uses
_block_max, READ = _make_block_max(FAST_BOX)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def row_offsets(src, y0, y1, k, rows):
    """The flat byte offsets of the source rows of output rows ``y0 .. y1 - 1`` (reflected,
    BORDER_REFLECT_101) into ``rows[0 .. y1 - y0 + k - 2]``."""
    h = src.shape[0]
    before = k // 2
    stride = src.strides[0]
    for e in range(y1 - y0 + k - 1):
        rows[e] = reflect101(y0 - before + e, h) * stride


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def fast_applies(src, y1, x0, k, B):
    """Whether :func:`block_pass_max` applies to the block of output rows ending at ``y1``
    and columns ``x0 .. x0 + B - 1``: the box is :data:`FAST_BOX`, the block :data:`FAST_BLOCK`
    wide and whole, its windows inside the map's columns, the map taller than the box (the
    rows reflect once at most), and the :data:`READ` bytes read of each source row inside the
    array (past the row's end only on rows above the last)."""
    h, w = src.shape
    col = x0 - k // 2
    if k != FAST_BOX or B != FAST_BLOCK or col < 0 or col + B + k - 1 > w or h <= k:
        return False
    if src.strides[1] != 1:
        return False
    last_row_read = y1 + k - k // 2 - 1 >= h  # the window meets the map's last row
    return not last_row_read or col + READ <= w


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def block_pass_max(src, rows, nrows, x0, k, scale, single, acc):
    """The largest pixel of one box pass over ``nrows`` output rows and the 32 columns from
    ``x0`` (:func:`fast_applies` must hold; ``rows``: :func:`row_offsets` of those rows;
    ``acc``: int32 scratch of 32): ``rint(max S / k**2)``, in float32 where ``single``.

    Examples
    --------
    >>> from selo_metrics._kernels.box import box_filter_passes
    >>> g = (np.arange(200 * 300) * 37 % 251).astype(np.uint8).reshape(200, 300)
    >>> rows, acc = np.empty(82, np.int64), np.empty(32, np.int32)
    >>> row_offsets(g, 64, 96, 50, rows)
    >>> bool(fast_applies(g, 96, 128, 50, 32))
    True
    >>> v = block_pass_max(g, rows, 32, 128, 50, 1 / 2500, True, acc)
    >>> int(v) == int(box_filter_passes(g, 50, 1, 1)[0][64:96, 128:160].max())
    True
    """
    _block_max(src, rows, np.int64(x0 - k // 2), np.int64(nrows), acc)
    top = np.int32(0)
    for j in range(FAST_BLOCK):
        top = max(top, acc[j])
    if single:
        return np.uint8(np.int32(np.rint(np.float32(top) * np.float32(scale))))
    return np.uint8(np.int32(np.rint(np.float64(top) * scale)))
