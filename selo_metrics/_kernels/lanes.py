"""Row kernels of the box filter's lane layout, in LLVM IR: a row as 32 segments, one a lane.

In the lane layout a row of ``32 S`` values is stored position by position: the 32 values
at position ``p`` of the row's 32 segments of ``S`` columns (columns ``p, S + p, ..., 31 S +
p``) fill one 512-bit register of 16-bit lanes, row ``p`` of a ``(positions, 32)`` array kept
flat. A horizontal window sum is then a running sum down the positions, one addition and one
subtraction per register (:func:`slide`), where the row-major layout needs a prefix scan
along the row (:mod:`selo_metrics._kernels.scan`: five lane shifts per register). The
windows at a segment's ends reach into the neighbouring segments, the *aprons*: a register
moved one lane (:func:`from_below`, :func:`from_above`). The layout is entered from bytes and
left back to bytes by 32 x 32 transposes (:func:`to_lanes`, :func:`from_lanes`).

The box pipeline (:mod:`selo_metrics._kernels.boxlanes`) pays the transposes once per row of
a tile, the running sums once per pass: measured alone on an AMD Zen 4
(``benchmarks/probe_lane_layout.py``, docs/performance.md, "The seventh stop") 0.024-0.031 ns
a value for the sums and 0.005-0.014 for the aprons, against 0.107-0.113 for the prefix-scan
window sums; 0.073-0.099 into the layout and 0.048-0.059 out of it.

Every function works on whole registers: the arrays hold whole chunks of 32 positions where
noted, and no bounds are checked (the caller sizes the buffers). Integer lanes wrap, so the
sums are exact modulo ``2**16``, as the window sums of the row-major kernel.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from . import CACHE
from .vector import wide_vectors

__all__ = ["NL", "from_above", "from_below", "from_lanes", "slide", "to_lanes"]

#: lanes: 16-bit values in a 512-bit register (the layout's segments)
NL = 32
_I16 = ir.VectorType(ir.IntType(16), NL)
_I8 = ir.VectorType(ir.IntType(8), NL)
_MASK = ir.VectorType(ir.IntType(32), NL)


def _data(context, builder, ty, val):
    return context.make_array(ty)(context, builder, val).data


def _at(builder, base, index, vty, stride=NL):
    # a pointer to the vector starting at element index * stride of base
    off = builder.mul(index, ir.Constant(index.type, stride)) if stride != 1 else index
    return builder.bitcast(builder.gep(base, [off]), vty.as_pointer())


def _like(builder, v, ty):
    # the integer v as type ty (sign-extended or truncated; itself when already ty)
    if v.type.width == ty.width:
        return v
    return builder.sext(v, ty) if v.type.width < ty.width else builder.trunc(v, ty)


def _arrays(*arrays, dtype=types.uint16):
    # contiguous 1-D arrays of dtype: the IR steps through them by address
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               and a.dtype == dtype for a in arrays)


@intrinsic
def _slide(typingctx, e, out, n, k):
    if not (_arrays(e, out) and isinstance(n, types.Integer) and isinstance(k, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        src = _data(context, builder, sig.args[0], args[0])
        dst = _data(context, builder, sig.args[1], args[1])
        n_val, k_val = args[2], _like(builder, args[3], args[2].type)
        one = ir.Constant(n_val.type, 1)
        acc = cgutils.alloca_once_value(builder, ir.Constant(_I16, None))
        with cgutils.for_range(builder, k_val) as loop:
            v = builder.load(_at(builder, src, loop.index, _I16), align=2)
            builder.store(builder.add(builder.load(acc), v), acc)
        builder.store(builder.load(acc), _at(builder, dst, ir.Constant(n_val.type, 0), _I16),
                      align=2)
        with cgutils.for_range(builder, builder.sub(n_val, one)) as loop:
            p = builder.add(loop.index, one)
            a = builder.load(_at(builder, src, builder.add(p, builder.sub(k_val, one)), _I16),
                             align=2)
            b = builder.load(_at(builder, src, builder.sub(p, one), _I16), align=2)
            v = builder.add(builder.load(acc), builder.sub(a, b))
            builder.store(v, acc)
            builder.store(v, _at(builder, dst, p, _I16), align=2)
        return context.get_dummy_value()

    return types.none(e, out, n, k), codegen


def _shifted(lanes: list[int]):
    # an intrinsic (src, dst, n): dst position q, lane j = src position q, lane lanes[j]
    def shift(typingctx, src, dst, n):
        if not (_arrays(src, dst) and isinstance(n, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            s = _data(context, builder, sig.args[0], args[0])
            d = _data(context, builder, sig.args[1], args[1])
            mask = ir.Constant(_MASK, lanes)
            with cgutils.for_range(builder, args[2]) as loop:
                v = builder.load(_at(builder, s, loop.index, _I16), align=2)
                builder.store(builder.shuffle_vector(v, v, mask),
                              _at(builder, d, loop.index, _I16), align=2)
            return context.get_dummy_value()

        return types.none(src, dst, n), codegen

    return intrinsic(shift)


_below = _shifted([0, *range(NL - 1)])  # lane j takes lane j - 1 (lane 0: its own)
_above = _shifted([*range(1, NL), NL - 1])  # lane j takes lane j + 1 (lane 31: its own)


def _transpose(builder, vs: list) -> list:
    # 32 x 32: at each step swap the off-diagonal s x s blocks of every 2s x 2s block
    s = NL // 2
    while s:
        lo = ir.Constant(_MASK, [j if not j & s else NL + j - s for j in range(NL)])
        hi = ir.Constant(_MASK, [j + s if not j & s else NL + j for j in range(NL)])
        for i in (i for i in range(NL) if not i & s):
            a, b = vs[i], vs[i + s]
            vs[i], vs[i + s] = builder.shuffle_vector(a, b, lo), builder.shuffle_vector(a, b, hi)
        s //= 2
    return vs


@intrinsic
def _to_lanes(typingctx, row, e, seg, n):
    if not (_arrays(row, dtype=types.uint8) and _arrays(e) and isinstance(seg, types.Integer)
            and isinstance(n, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        r = _data(context, builder, sig.args[0], args[0])
        d = _data(context, builder, sig.args[1], args[1])
        seg_val, n_val = args[2], _like(builder, args[3], args[2].type)
        c = ir.Constant(seg_val.type, NL)
        chunks = builder.udiv(builder.add(n_val, ir.Constant(n_val.type, NL - 1)), c)
        with cgutils.for_range(builder, chunks) as loop:
            p0 = builder.mul(loop.index, c)
            vs = []
            for j in range(NL):
                at = builder.add(builder.mul(seg_val, ir.Constant(seg_val.type, j)), p0)
                v = builder.load(_at(builder, r, at, _I8, 1), align=1)
                vs.append(builder.zext(v, _I16))
            for q, v in enumerate(_transpose(builder, vs)):
                builder.store(v, _at(builder, d, builder.add(p0, ir.Constant(p0.type, q)),
                                     _I16), align=2)
        return context.get_dummy_value()

    return types.none(row, e, seg, n), codegen


@intrinsic
def _from_lanes(typingctx, o, row, seg):
    if not (_arrays(o) and _arrays(row, dtype=types.uint8) and isinstance(seg, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        s = _data(context, builder, sig.args[0], args[0])
        r = _data(context, builder, sig.args[1], args[1])
        seg_val = args[2]
        c = ir.Constant(seg_val.type, NL)
        chunks = builder.udiv(builder.add(seg_val, ir.Constant(seg_val.type, NL - 1)), c)
        last = builder.sub(chunks, ir.Constant(chunks.type, 1))
        with cgutils.for_range(builder, chunks) as loop:
            # the last chunk first: a chunk's overrun into the next segment is written over
            p0 = builder.mul(builder.sub(last, loop.index), c)
            vs = [builder.load(_at(builder, s, builder.add(p0, ir.Constant(p0.type, q)), _I16),
                               align=2) for q in range(NL)]
            for j, v in enumerate(_transpose(builder, vs)):
                at = builder.add(builder.mul(seg_val, ir.Constant(seg_val.type, j)), p0)
                builder.store(builder.trunc(v, _I8), _at(builder, r, at, _I8, 1), align=1)
        return context.get_dummy_value()

    return types.none(o, row, seg), codegen


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def slide(e, out, n, k):
    """``out`` position ``p`` = the sum of ``e`` positions ``p .. p + k - 1``, for ``p < n``.

    ``e`` and ``out`` are flat uint16 arrays of positions of :data:`NL` lanes (``e`` holds
    ``n + k - 1`` of them); each lane is summed apart, modulo ``2**16``.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.arange(5 * NL, dtype=np.uint16); out = np.empty(3 * NL, np.uint16)
    >>> slide(e, out, 3, 3)
    >>> out.reshape(3, NL)[:, 0].tolist()  # lane 0 holds 0, 32, 64, 96, 128
    [96, 192, 288]
    """
    wide_vectors()
    _slide(e, out, n, k)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def from_below(src, dst, n):
    """Copy ``n`` positions moved up one lane: lane ``j`` of ``dst`` takes lane ``j - 1`` of
    ``src`` (lane 0 its own), flat uint16 arrays of :data:`NL` lanes a position."""
    wide_vectors()
    _below(src, dst, n)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def from_above(src, dst, n):
    """As :func:`from_below`, lane ``j`` taking lane ``j + 1`` (the last lane its own)."""
    wide_vectors()
    _above(src, dst, n)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def to_lanes(row, e, seg, n):
    """Position ``q`` lane ``j`` of ``e`` (uint16) = ``row[j * seg + q]`` (uint8), ``q < n``.

    Whole chunks of 32 positions: ``e`` must hold ``n`` rounded up to 32 positions and
    ``row`` (read up to ``31 seg`` plus that) as many bytes.

    Examples
    --------
    >>> import numpy as np
    >>> row = np.arange(256, dtype=np.uint8); e = np.empty(32 * NL, np.uint16)
    >>> to_lanes(row, e, 4, 3)
    >>> e.reshape(-1, NL)[1, :4].tolist()  # position 1 of segments 0-3: columns 1, 5, 9, 13
    [1, 5, 9, 13]
    """
    wide_vectors()
    _to_lanes(row, e, seg, n)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def from_lanes(o, row, seg):
    """``row[j * seg + p]`` (uint8, truncated) = position ``p`` lane ``j`` of ``o`` (uint16),
    ``p < seg``; as :func:`to_lanes` reversed (``o`` holds ``seg`` rounded up to 32
    positions, ``row`` ``32 seg + 32`` bytes, those past ``32 seg`` overwritten)."""
    wide_vectors()
    _from_lanes(o, row, seg)
