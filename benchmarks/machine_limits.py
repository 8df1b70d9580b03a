"""What this machine can do at best, in numba: the yardsticks for docs/performance.md.

Usage::

    python benchmarks/machine_limits.py [--mb 100] [--repeat 20] [--json out.json]

Measures, with the same numba, threads and thread pool as the kernels (best of
``--repeat``):

* memory bandwidth: a plain uint8 copy of a ``--mb`` MB array (read + write counted), and a
  plain read (the maximum of the array), on 1 thread and on all cores;
* SIMD throughput: a plain uint8 add ``c = a + b`` of 8 KiB rows that stay in the L1 cache,
  in pixels per nanosecond per core, and a 5-tap uint16 shifted sum (the box filter's inner
  loop alone) the same way.

A stage's share of the limit is then its pixels per second against these: e.g. a box-filter
pass at 0.3 ns per pixel per core is worth ``0.3 / add_ns`` plain adds per pixel.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def _copy(a, b, i0, i1):
    s = a[i0:i1]
    d = b[i0:i1]
    for i in range(s.shape[0]):
        d[i] = s[i]


@numba.njit(nogil=True, cache=True)
def _read(a, i0, i1):
    s = a[i0:i1]
    best = np.uint8(0)
    for i in range(s.shape[0]):
        best = max(best, s[i])
    return best


@numba.njit(nogil=True, cache=True)
def _add_l1(a, b, c, reps):
    for _ in range(reps):
        for i in range(a.shape[0]):
            c[i] = a[i] + b[i]


@numba.njit(nogil=True, cache=True)
def _sum5_l1(e, o, reps):
    n = o.shape[0]
    a0, a1, a2, a3, a4 = e[0:n], e[5 : n + 5], e[10 : n + 10], e[15 : n + 15], e[20 : n + 20]
    for _ in range(reps):
        for i in range(n):
            o[i] = a0[i] + a1[i] + a2[i] + a3[i] + a4[i]


def _parallel(pool, threads, func, n, *args):
    if threads == 1:
        return func(*args, 0, n)
    futures = [
        pool.submit(func, *args, n * i // threads, n * (i + 1) // threads) for i in range(threads)
    ]
    return [f.result() for f in futures]


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(mb: int = 100, repeat: int = 20, cores: int | None = None) -> dict:
    """The figures as a dict (GB/s, pixels per ns per core)."""
    from selo_metrics._kernels import available_cpus

    cores = cores or available_cpus()
    n = mb * 1_000_000
    a = np.ones(n, np.uint8)
    b = np.ones(n, np.uint8)
    out: dict = {"cores": cores, "mb": mb}
    with ThreadPoolExecutor(cores) as pool:
        for t in sorted({1, cores}):
            _parallel(pool, t, _copy, n, a, b)
            s = _best(lambda t=t: _parallel(pool, t, _copy, n, a, b), repeat)
            out[f"copy_GBps_{t}thr"] = 2 * n / s / 1e9
            s = _best(lambda t=t: _parallel(pool, t, _read, n, a), repeat)
            out[f"read_GBps_{t}thr"] = n / s / 1e9
    m, reps = 8192, 2000
    x, y, z = np.ones(m, np.uint8), np.ones(m, np.uint8), np.ones(m, np.uint8)
    _add_l1(x, y, z, 1)
    out["add_u8_px_per_ns_core"] = m * reps / _best(lambda: _add_l1(x, y, z, reps), repeat) / 1e9
    e, o = np.ones(m + 32, np.uint16), np.ones(m, np.uint16)
    _sum5_l1(e, o, 1)
    out["sum5_u16_px_per_ns_core"] = m * reps / _best(lambda: _sum5_l1(e, o, reps), repeat) / 1e9
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mb", type=int, default=100, help="array size for the bandwidth tests")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    res = measure(args.mb, args.repeat)
    print(
        f"# machine limits, numba {numba.__version__}, {res['cores']} core(s), best of "
        f"{args.repeat}"
    )
    for key, value in res.items():
        if key not in ("cores", "mb"):
            print(f"{key:28s} {value:8.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
