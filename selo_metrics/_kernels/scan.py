"""Horizontal window sums of a 16-bit row from its prefix sums, scanned in SIMD registers.

The box filter needs, for every output column ``i`` of a row, ``S[i] = e[i] + ... + e[i + k -
1]`` over the row ``e`` widened to 16 bits with its borders. With the prefix sums ``P[0] = 0``,
``P[j + 1] = e[0] + ... + e[j]``, that is ``S[i] = P[i + k] - P[i]``: one subtraction per
column, whatever ``k``. The prefix sums are kept modulo ``2**16`` (they wrap); the difference
of two of them, also taken modulo ``2**16``, is still the exact window sum as long as that sum
is below ``2**16``, which holds for bytes and ``k <= 257`` (``255 * 257 = 65535``).

A prefix scan is a chain along the row, which no loop vectoriser forms, so the scan is LLVM
IR (``_scan``, called through :func:`prefix_sums_u16`): 32 values at a time in one
``<32 x i16>`` register, the log-step (Kogge-Stone) scan inside the register (add a copy
shifted up by 1, 2, 4, 8 and 16 lanes, zeros shifted in: five shuffles and five additions),
then the running total of the previous chunks (kept in every lane) added. The running total
advances by the chunk's own total (its last lane, broadcast), so the loop's carried chain is
one addition; broadcasting the last lane of the stored sums instead puts a lane permutation
in the chain too. On an AMD Zen 5 the window sums alone took 0.066-0.070 against
0.083-0.089 ns a value that way, on a Zen 4 0.112-0.115 against 0.104-0.107
(docs/performance.md, "The fifth stop"). On a CPU with AVX-512 a register is one zmm
register; elsewhere LLVM splits it into two or four narrower ones, with the same result.
Integer lanes wrap the same at any width, so the result is exact everywhere.

Measured against the former chained sums of 5, 5 and 2 shifted copies for ``k = 50``
(``benchmarks/ab_box_filter.py``, see docs/performance.md): the five box passes at 10000 x
10000 in 175-188 ms of one thread's CPU against 210-223 ms, the same bytes.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from . import CACHE
from .vector import wide_vectors

__all__ = ["LANES", "prefix_sums_u16", "window_sums"]

#: values per register in the scan (a multiple of this many may be read past ``n``)
LANES = 32

_I16 = ir.IntType(16)
_VEC = ir.VectorType(_I16, LANES)
_MASK = ir.VectorType(ir.IntType(32), LANES)


def _shifted_up(builder, v, s):
    """``v`` shifted up by ``s`` lanes, zeros shifted in: lane ``i`` holds ``v[i - s]``."""
    zero = ir.Constant(_VEC, None)
    mask = list(range(s)) + [LANES + i - s for i in range(s, LANES)]
    return builder.shuffle_vector(zero, v, ir.Constant(_MASK, mask))


@intrinsic
def _scan(typingctx, a, p, n):
    # the IR of prefix_sums_u16 (numba can call an intrinsic from compiled code only)
    # contiguous 1-D uint16 arrays only: the IR steps through them by address
    if not (isinstance(a, types.Array) and isinstance(p, types.Array)
            and (a.ndim, a.layout, a.dtype) == (1, "C", types.uint16)
            and (p.ndim, p.layout, p.dtype) == (1, "C", types.uint16)
            and isinstance(n, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        a_val, p_val, n_val = args
        src = context.make_array(signature.args[0])(context, builder, a_val).data
        dst = context.make_array(signature.args[1])(context, builder, p_val).data
        builder.store(ir.Constant(_I16, 0), dst)
        total = cgutils.alloca_once_value(builder, ir.Constant(_VEC, None))
        lanes = ir.Constant(n_val.type, LANES)
        chunks = builder.udiv(builder.add(n_val, ir.Constant(n_val.type, LANES - 1)), lanes)
        with cgutils.for_range(builder, chunks) as loop:
            c = builder.mul(loop.index, lanes)
            v = builder.load(builder.bitcast(builder.gep(src, [c]), _VEC.as_pointer()), align=2)
            s = 1
            while s < LANES:  # Kogge-Stone: lane i sums the 2s values up to it
                v = builder.add(v, _shifted_up(builder, v, s))
                s *= 2
            tot = builder.load(total)  # every lane: the sum of the chunks before
            out = builder.gep(dst, [builder.add(c, ir.Constant(c.type, 1))])
            builder.store(builder.add(v, tot), builder.bitcast(out, _VEC.as_pointer()), align=2)
            # the chunk's own total to every lane (off the carried chain)
            own = builder.shuffle_vector(v, v, ir.Constant(_MASK, [LANES - 1] * LANES))
            builder.store(builder.add(tot, own), total)
        return context.get_dummy_value()

    return types.none(a, p, n), codegen


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def prefix_sums_u16(a, p, n):
    """``p[0] = 0``, ``p[j + 1] = a[0] + ... + a[j]`` modulo ``2**16`` for ``j < n`` (uint16).

    Works on whole registers: it reads ``a`` and writes ``p[1:]`` up to ``n`` rounded up to a
    multiple of :data:`LANES`, so both arrays must hold that many values (plus one in ``p``);
    the values past ``n`` are garbage. No bounds are checked: the caller sizes the arrays.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.full(32, 40000, np.uint16); p = np.empty(33, np.uint16)
    >>> prefix_sums_u16(a, p, 3)
    >>> p[:4].tolist()  # 0, 40000, 80000 and 120000 modulo 65536
    [0, 40000, 14464, 54464]
    """
    _scan(a, p, n)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def window_sums(e, p, k, out):
    """``out[i] = e[i] + ... + e[i + k - 1]`` for ``i < len(out)``, exact while below ``2**16``.

    ``e`` (uint16) holds at least ``len(out) + k - 1`` values; ``p`` (uint16) is scratch.
    Both must hold that count rounded up to a multiple of :data:`LANES`, ``p`` one more (see
    :func:`prefix_sums_u16`).

    Examples
    --------
    >>> import numpy as np
    >>> e = np.zeros(64, np.uint16); e[:10] = np.arange(10)
    >>> p = np.empty(65, np.uint16); out = np.empty(7, np.uint16)
    >>> window_sums(e, p, 4, out)
    >>> out.tolist()
    [6, 10, 14, 18, 22, 26, 30]
    """
    wide_vectors()
    n = out.shape[0]
    _scan(e, p, n + k - 1)
    hi = p[k : k + n]
    lo = p[0:n]
    for i in range(n):
        out[i] = hi[i] - lo[i]
