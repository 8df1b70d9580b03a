"""Numba intrinsics for the kernels' vector code: 512-bit registers, prefetching.

:func:`wide_vectors` lets LLVM vectorise a kernel with 512-bit registers where the CPU has
them:

LLVM prefers 256-bit vectors on every x86 CPU by default (some early AVX-512 CPUs lower
their clock on 512-bit work), even where the wider registers are faster. Calling
:func:`wide_vectors` at the top of a numba function sets its ``prefer-vector-width=512``
attribute: on a CPU with AVX-512 its loops then work on 32 16-bit or 16 32-bit lanes at a
time; elsewhere the attribute changes nothing. Measured on this project's machines (Xeon,
Emerald Rapids) on the box filter's two hottest loops: 1.33x and 1.44x (see
docs/performance.md). The results do not change: integer and float lanes round the same at
any width.

:func:`prefetch_write` / :func:`prefetch_read` ask for a cache line that the code will write /
read soon (``llvm.prefetch`` with ``rw = 1`` / ``0``): a hint, which changes no result.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["prefetch_read", "prefetch_write", "wide_vectors"]

ATTRIBUTE = '"prefer-vector-width"="512"'


@intrinsic
def wide_vectors(typingctx):
    """Mark the calling numba function to prefer 512-bit vectors (a no-op at run time)."""

    def codegen(context, builder, signature, args):
        try:  # llvmlite validates attribute names against a fixed list; this one is a string
            set.add(builder.function.attributes, ATTRIBUTE)
        except Exception:  # pragma: no cover - an llvmlite without sets: keep LLVM's default
            pass
        return context.get_dummy_value()

    return types.none(), codegen


def _prefetch(rw: int):
    def prefetch(typingctx, arr, i):
        if not (isinstance(arr, types.Array) and arr.ndim == 1
                and isinstance(i, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            # the typed-pointer name; newer LLVMs upgrade it to llvm.prefetch.p0
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                "llvm.prefetch.p0i8")
            # locality = 3 (keep in all levels), cache type = 1 (data)
            builder.call(fn, [ptr, ir.Constant(i32, rw), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.none(arr, i), codegen

    return prefetch


prefetch_write = intrinsic(_prefetch(1))
prefetch_write.__doc__ = """Prefetch the cache line holding ``arr[i]`` (a 1-D array) into every
cache level, for writing; no bounds are checked, and a line past the array is a harmless hint."""

prefetch_read = intrinsic(_prefetch(0))
prefetch_read.__doc__ = """Prefetch the cache line holding ``arr[i]`` (a 1-D array) into every
cache level, for reading; as :func:`prefetch_write` otherwise."""
