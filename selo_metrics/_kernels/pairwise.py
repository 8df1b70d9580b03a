"""numpy's pairwise summation, reproduced bit for bit on the Rsu sums (explicit SIMD leaves).

The official code computes ``np.sum(prob)`` and ``np.sum(prob * mask)`` with ``prob = gray /
255.0``. numpy adds a contiguous float64 array with its pairwise summation
(``pairwise_sum`` in ``numpy/_core/src/umath/loops_utils.h.src``) over the whole flattened
array, starting from 0.0:

* fewer than 8 values: added one by one;
* 8 to 128 values (a leaf): 8 accumulators ``r[j]`` take the values ``j, j + 8, j + 16, ...``
  in order, are combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, and the
  last ``n % 8`` values are added one by one;
* more: the first ``n2 = n // 2 - (n // 2) % 8`` values and the rest are summed separately
  and added.

Float addition is not associative, so another order (exact integer sums divided by 255
once) can differ from the official numbers in the last bit. This module walks the same tree:

* a leaf's 8 accumulators are one ``<8 x double>`` vector; numba's loop vectorizer cannot
  form it (a fixed-width reduction), so the leaf loop is LLVM IR (:func:`_make_lanes`): plain
  IEEE ``fadd`` / ``fmul``, no fast-math flags;
* ``gray / 255.0`` is ``gray * C1 + gray * C2`` with ``C1 + C2 = 1/255`` split so that
  ``gray * C1`` is exact: it equals the correctly rounded quotient for all 256 values (tested).
  Being exact, ``gray * C1`` needs no rounding before the addition, so one fused multiply-add
  ``fma(gray, C1, gray * C2)`` gives the very same double with one operation less;
* the tree's shape depends on sizes only, and its nodes of at most :data:`SMALL` values take
  a handful of sizes: each size's leaves and additions are worked out once
  (:func:`layouts`), so the kernel runs a short list per node instead of a recursion;
* a node's leaves first store their accumulators, which :func:`_combine8` then combines
  eight leaves at a time (three rounds of lane shuffles and additions: numpy's very
  additions), before the node's additions run on the leaves' sums (``docs/performance.md``).
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from . import CACHE

__all__ = ["BLOCK", "C1", "C2", "SMALL", "layouts", "pairwise_nodes", "split"]

#: numpy's ``PW_BLOCKSIZE``: the largest leaf
BLOCK = 128
#: nodes of at most this many values are summed from a precomputed layout
SMALL = 4096
#: ``1/255`` as ``C1 + C2``; ``C1`` has 44 significant bits, so ``g * C1`` is exact for a byte
C1 = 0.0039215686274509665
C2 = 1.3932210505100003e-17

_F8 = ir.VectorType(ir.DoubleType(), 8)


def split(n: int) -> int:
    """Where numpy splits a block of ``n > 128`` values: half, rounded down to a multiple of 8.

    Examples
    --------
    >>> split(129), split(1000)
    (64, 496)
    """
    half = n // 2
    return half - half % 8


# -- the leaves, in LLVM IR ------------------------------------------------------------------


def _load8(context, builder, arr_type, arr_val, i):
    ary = context.make_array(arr_type)(context, builder, arr_val)
    ptr = builder.gep(ary.data, [i])
    vec = ir.VectorType(ary.data.type.pointee, 8)
    return builder.load(builder.bitcast(ptr, vec.as_pointer()), align=1)


def _fma(builder, ty, suffix):
    """LLVM's fused multiply-add on ``ty``: ``fma(a, b, c) = a * b + c`` rounded once."""
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]),
                                          f"llvm.fma.{suffix}")


def _values8(context, builder, arr_type, arr_val, i):
    """Eight consecutive map values as float64: ``g / 255.0`` for uint8, float32 widened
    exactly, float64 as stored."""
    raw = _load8(context, builder, arr_type, arr_val, i)
    if arr_type.dtype == types.float32:
        return builder.fpext(raw, _F8)
    if arr_type.dtype != types.uint8:
        return raw
    x = builder.uitofp(raw, _F8)
    c1 = ir.Constant(_F8, [ir.Constant(ir.DoubleType(), C1)] * 8)
    c2 = ir.Constant(_F8, [ir.Constant(ir.DoubleType(), C2)] * 8)
    return builder.call(_fma(builder, _F8, "v8f64"), [x, c1, builder.fmul(x, c2)])


_EVEN = [0, 2, 4, 6, 8, 10, 12, 14]
_ODD = [1, 3, 5, 7, 9, 11, 13, 15]


def _pairs(builder, a, b):
    """One level of numpy's combination for two vectors at once: ``[a0 + a1, a2 + a3, a4 + a5,
    a6 + a7, b0 + b1, b2 + b3, b4 + b5, b6 + b7]`` (two lane shuffles and one addition)."""
    i8 = ir.VectorType(ir.IntType(32), 8)
    even = builder.shuffle_vector(a, b, ir.Constant(i8, _EVEN))
    odd = builder.shuffle_vector(a, b, ir.Constant(i8, _ODD))
    return builder.fadd(even, odd)


def _f8_at(context, builder, arr_type, arr_val, index):
    ary = context.make_array(arr_type)(context, builder, arr_val)
    return builder.bitcast(builder.gep(ary.data, [index]), _F8.as_pointer())


def _make_lanes(masked: bool):
    """An intrinsic ``(arr, mask, start, steps, accs, q)``: the 8 accumulators of numpy's leaf
    over the ``8 * steps`` values from ``start`` (the last ``n % 8`` are the caller's), of the
    sum into ``accs[16 q : 16 q + 8]`` and of the masked sum into ``accs[16 q + 8 : 16 q + 16]``;
    :func:`_combine8` adds them up as numpy does.

    The accumulators start at 0.0: ``0.0 + v == v`` for the values here (``>= 0``), where
    numpy starts from ``v``. Without ``masked``, the masked accumulators are 0.0 (no GT pixel
    there). With it, ``v * m`` for a 0/1 mask is ``v`` where ``m != 0`` and ``+0.0``
    elsewhere: a select, which compiles to a byte test and a masked move, where widening the
    mask to doubles and multiplying took a zero-extension, a conversion and a multiplication
    per 8 values; the same doubles (measured in ``docs/performance.md``).
    """

    def codegen(context, builder, sig, args):
        arr, mask, accs = sig.args[0], sig.args[1], sig.args[4]
        arr_v, m_v, start, steps, accs_v, q = args
        i64 = ir.IntType(64)
        zero = ir.Constant(_F8, [ir.Constant(ir.DoubleType(), 0.0)] * 8)
        acc = cgutils.alloca_once_value(builder, zero)
        acc_in = cgutils.alloca_once_value(builder, zero)
        with cgutils.for_range(builder, steps) as loop:
            i = builder.add(start, builder.mul(loop.index, ir.Constant(i64, 8)))
            vals = _values8(context, builder, arr, arr_v, i)
            builder.store(builder.fadd(builder.load(acc), vals), acc)
            if masked:
                m = _load8(context, builder, mask, m_v, i)
                inside = builder.icmp_unsigned("!=", m, ir.Constant(m.type, None))
                masked_vals = builder.select(inside, vals, zero)
                builder.store(builder.fadd(builder.load(acc_in), masked_vals), acc_in)
        at = builder.mul(q, ir.Constant(i64, 16))
        builder.store(builder.load(acc), _f8_at(context, builder, accs, accs_v, at), align=8)
        at = builder.add(at, ir.Constant(i64, 8))
        builder.store(builder.load(acc_in), _f8_at(context, builder, accs, accs_v, at), align=8)
        return context.get_dummy_value()

    def lanes(typingctx, arr, mask, start, steps, accs, q):
        return types.none(arr, mask, start, steps, accs, q), codegen

    return intrinsic(lanes)


_lanes_all = _make_lanes(False)
_lanes_both = _make_lanes(True)


@intrinsic
def _combine8(typingctx, accs, g, sums, sums_in):
    """Leaves ``8 g .. 8 g + 7`` (:func:`_make_lanes`): numpy's combination of each leaf's 8
    accumulators, ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, into ``sums[8 g :
    8 g + 8]`` and, of the masked ones, ``sums_in``. Three levels of :func:`_pairs` combine
    the eight leaves together (7 shuffled additions), where one leaf at a time took 7 lane
    extractions and 7 scalar additions per leaf: the same additions of the same doubles."""

    def codegen(context, builder, sig, args):
        accs_v, g_v, sums_v, in_v = args
        i64 = ir.IntType(64)
        first = builder.mul(g_v, ir.Constant(i64, 128))
        for half, (out_t, out_v) in enumerate([(sig.args[2], sums_v), (sig.args[3], in_v)]):
            vecs = []
            for j in range(8):
                at = builder.add(first, ir.Constant(i64, 16 * j + 8 * half))
                vecs.append(builder.load(_f8_at(context, builder, sig.args[0], accs_v, at),
                                         align=8))
            l1 = [_pairs(builder, vecs[2 * j], vecs[2 * j + 1]) for j in range(4)]
            l2 = [_pairs(builder, l1[0], l1[1]), _pairs(builder, l1[2], l1[3])]
            at = builder.mul(g_v, ir.Constant(i64, 8))
            builder.store(_pairs(builder, l2[0], l2[1]),
                          _f8_at(context, builder, out_t, out_v, at), align=8)
        return context.get_dummy_value()

    return types.none(accs, g, sums, sums_in), codegen


@intrinsic
def _value(typingctx, arr, i):
    """One map value as float64 (as :func:`_values8`)."""

    def codegen(context, builder, sig, args):
        arr_v, i_v = args
        ary = context.make_array(arr)(context, builder, arr_v)
        raw = builder.load(builder.gep(ary.data, [i_v]))
        if arr.dtype == types.float32:
            return builder.fpext(raw, ir.DoubleType())
        if arr.dtype != types.uint8:
            return raw
        x = builder.uitofp(raw, ir.DoubleType())
        c1 = ir.Constant(ir.DoubleType(), C1)
        c2 = ir.Constant(ir.DoubleType(), C2)
        return builder.call(_fma(builder, ir.DoubleType(), "f64"), [x, c1, builder.fmul(x, c2)])

    return types.float64(arr, i), codegen


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _leaves(arr, mask, lo, hi, s, offsets, lengths, accs, sums, sums_in):
    """numpy's sums of the leaves ``[s + offsets[q], + lengths[q])`` (each at most 128
    values), of the values and of value * mask, into ``sums`` and ``sums_in``."""
    nl = offsets.shape[0]
    for q in range(nl):
        start = s + offsets[q]
        n = lengths[q]
        if start < hi and start + n > lo:
            _lanes_both(arr, mask, start, n // 8, accs, q)
        else:
            _lanes_all(arr, mask, start, n // 8, accs, q)
    for g in range((nl + 7) // 8):  # the accumulators of unused leaves give unused sums
        _combine8(accs, g, sums, sums_in)
    for q in range(nl):  # the last n % 8 values, one by one
        n = lengths[q]
        if n % 8 == 0:
            continue
        start = s + offsets[q]
        ra, ri = sums[q], sums_in[q]
        masked = start < hi and start + n > lo
        for i in range(start + n - n % 8, start + n):
            v = _value(arr, i)
            ra += v
            if masked:
                ri += v * mask[i]
        sums[q], sums_in[q] = ra, ri


# -- the tree --------------------------------------------------------------------------------

#: a token of a layout's program: add the two values on top of the stack
_ADD = -1


@cache
def _layout(k: int) -> tuple[list[int], list[int], list[int]]:
    """The leaves (offsets, lengths) of a node of ``k`` values and its additions, as a stack
    program in post-order: ``q >= 0`` pushes leaf ``q``'s sum, ``_ADD`` adds the top two."""
    offsets: list[int] = []
    lengths: list[int] = []
    program: list[int] = []

    def walk(start: int, n: int) -> None:
        if n <= BLOCK:
            program.append(len(offsets))
            offsets.append(start)
            lengths.append(n)
            return
        half = split(n)
        walk(start, half)
        walk(start + half, n - half)
        program.append(_ADD)

    walk(0, k)
    return offsets, lengths, program


def layouts(node_lengths) -> tuple[np.ndarray, ...]:
    """The layouts of every node size that the walk from these nodes down to nodes of at most
    :data:`SMALL` values meets (a few), packed for :func:`pairwise_nodes`.

    Returns ``(sizes, leaf_bounds, offsets, lengths, prog_bounds, programs)``: size ``j``'s
    leaves are ``offsets[leaf_bounds[j]:leaf_bounds[j + 1]]`` (and ``lengths``), its program
    ``programs[prog_bounds[j]:prog_bounds[j + 1]]``.

    Examples
    --------
    >>> sizes, *_ = layouts([10_000])
    >>> sizes.tolist()
    [2496, 2504]
    """
    return _layouts(frozenset(int(k) for k in node_lengths))


@cache
def _layouts(node_lengths: frozenset[int]) -> tuple[np.ndarray, ...]:
    todo = set(node_lengths)
    sizes: set[int] = set()
    while todo:
        k = todo.pop()
        if k <= SMALL:
            sizes.add(k)
        else:
            todo.update((split(k), k - split(k)))
    ordered = sorted(sizes)
    parts = [_layout(k) for k in ordered]
    leaf_bounds = np.cumsum([0] + [len(p[0]) for p in parts]).astype(np.int64)
    prog_bounds = np.cumsum([0] + [len(p[2]) for p in parts]).astype(np.int64)
    flat = [np.array([v for p in parts for v in p[i]], np.int64) for i in range(3)]
    return (np.array(ordered, np.int64), leaf_bounds, flat[0], flat[1], prog_bounds, flat[2])


# inlined into _node: called, it cost about a sixth of the sums (0.197 against 0.164 ns a
# value, one thread; docs/performance.md, "The fourth stop")
@numba.njit(cache=CACHE, nogil=True, inline="always")
def _small(arr, mask, lo, hi, s, k, lay, stack, accs, sums, sums_in):
    """numpy's sums of a node of at most :data:`SMALL` values, from its layout: its leaves
    (:func:`_leaves`), then its program of additions."""
    sizes, leaf_bounds, offsets, lengths, prog_bounds, programs = lay
    j = 0
    while sizes[j] != k:
        j += 1
    base = leaf_bounds[j]
    top = leaf_bounds[j + 1]
    _leaves(arr, mask, lo, hi, s, offsets[base:top], lengths[base:top], accs, sums, sums_in)
    sp = 0
    for t in range(prog_bounds[j], prog_bounds[j + 1]):
        q = programs[t]
        if q == _ADD:
            sp -= 1
            stack[sp - 1, 0] += stack[sp, 0]
            stack[sp - 1, 1] += stack[sp, 1]
        else:
            stack[sp, 0], stack[sp, 1] = sums[q], sums_in[q]
            sp += 1
    return stack[0, 0], stack[0, 1]


@numba.njit(cache=CACHE, nogil=True)
def _node(arr, mask, lo, hi, start, n, lay):
    """numpy's pairwise sums of ``[start, start + n)``; only ``[lo, hi)`` may hold GT pixels.

    A post-order walk with an explicit stack (its depth is below 64) down to nodes of at
    most :data:`SMALL` values.
    """
    st_start = np.empty(64, np.int64)
    st_n = np.empty(64, np.int64)
    st_stage = np.zeros(64, np.int64)
    left = np.empty((64, 2))
    scratch = np.empty((64, 2))
    # the leaves of a node (a multiple of 8 for _combine8): their accumulators and sums
    most = np.max(np.diff(lay[1])) + 8 if lay[1].shape[0] > 1 else 8
    accs = np.empty(16 * most)
    sums, sums_in = np.empty(most), np.empty(most)
    sp = 0
    st_start[0] = start
    st_n[0] = n
    ra = 0.0
    ri = 0.0
    while sp >= 0:
        k = st_n[sp]
        s = st_start[sp]
        if k <= SMALL:
            ra, ri = _small(arr, mask, lo, hi, s, k, lay, scratch, accs, sums, sums_in)
            sp -= 1
            continue
        half = k // 2
        half -= half % 8
        if st_stage[sp] == 0:
            st_stage[sp] = 1
            sp += 1
            st_start[sp] = s
            st_n[sp] = half
            st_stage[sp] = 0
        elif st_stage[sp] == 1:
            left[sp, 0] = ra
            left[sp, 1] = ri
            st_stage[sp] = 2
            sp += 1
            st_start[sp] = s + half
            st_n[sp] = k - half
            st_stage[sp] = 0
        else:
            ra = left[sp, 0] + ra
            ri = left[sp, 1] + ri
            sp -= 1
    return ra, ri


@numba.njit(cache=CACHE, nogil=True)
def pairwise_nodes(arr, mask, lo, hi, starts, lengths, lay, out, k0, k1):
    """``out[k] = (sum, masked sum)`` of the nodes ``k0 <= k < k1`` (``starts``, ``lengths``),
    numpy's pairwise sums; ``lay`` is :func:`layouts` of ``lengths``.

    ``arr`` (uint8: ``g / 255.0``; float32: widened exactly; float64: as is) and ``mask``
    (uint8 0/1) are flat; only ``[lo, hi)`` may hold GT pixels.
    """
    for k in range(k0, k1):
        out[k, 0], out[k, 1] = _node(arr, mask, lo, hi, starts[k], lengths[k], lay)
