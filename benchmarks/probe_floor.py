"""What bounds the runner's floor on this machine: the clock, the JPEG decoders, two workers
side by side, the box filter's cost per row and per pixel, and the cost of its stores.

Usage::

    python benchmarks/probe_floor.py                  # all five probes (about 4 minutes)
    python benchmarks/probe_floor.py clock decoders   # some of them

``bench_runner.py --floor`` splits a run into decoding and metrics; these probes say why
each is where it is:

* ``clock``: a chain of dependent integer operations (two cycles a step), so the core's
  clock in GHz is twice the steps per nanosecond; it turns ns per pixel into cycles.
* ``decoders``: the three largest JPEG maps of the runner's set (``--data``, written by
  ``bench_runner.py``) decoded by ``selo_metrics.read_map`` (Pillow and its libjpeg-turbo)
  into a new array and into the reused buffer the runner decodes into, and, where
  installed, by OpenCV (``cv2.imread``, grayscale), best of ``--repeat``, ns a pixel, with
  a check that all give the same pixels; then the set's first 100 maps decoded in turn,
  into new arrays and into the reused buffer, ``--repeat`` rounds by turns.
* ``contention``: the box filter x5 at 10k (``bench_metrics.make_case``) and the decoding
  of one map, each alone and then as two processes at once (both of one kind, then one of
  each), median CPU time of the thread over ``--seconds``: whether two workers slow each
  other down (a shared core, the memory bandwidth).
* ``rows``: the box filter x5 on random maps of 10 Mpx whose width is one tile or less
  (128 to 3072 columns), ns a pixel and pass and ns a row and pass: the fixed cost of a row
  and the cost of a pixel; a 10000 x 1024 strip filtered as a contiguous map and as a view
  of a 10240-column map (its rows 1 KB long at a 10 KB stride, as a narrow tile's); then the
  10000 x 10000 map with the tile width (``box.TILE``) set to 1024-6144, the same bytes
  checked. The filter's two result buffers are allocated once per map and reused.
* ``stores``: what non-temporal stores could save the box filter's result map: a stream
  that reads a 100 MB map and writes another (``x ^ 1``, 64 bytes at a time, both 64-byte
  aligned) with ordinary stores, which read each line before writing it, and with
  non-temporal ones (LLVM's ``!nontemporal``: ``vmovntps``), which do not, best of
  ``--repeat`` by turns, beside the box filter x5 on the 10k map, which writes as much.

CPU time of one thread throughout (``time.thread_time``), one kernel thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("SELO_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PROBES = ("clock", "decoders", "contention", "rows", "stores")
#: the map of ``contention`` and ``rows``: the benchmarks' focused 10k map
WORK = Path(tempfile.gettempdir()) / "selo-probe-floor"


def clock() -> None:
    import numba

    @numba.njit
    def chain(n, x):
        for i in range(n):  # x + i and x >> 7 in parallel, then the xor: 2 cycles a step
            x = (x + i) ^ (x >> 7)
        return x

    chain(1000, 1)
    n = 500_000_000
    best = min(_timed(lambda: chain(n, 3)) for _ in range(3))
    print(f"clock: {n / best / 1e9:.2f} G steps/s of a 2-cycle chain -> about "
          f"{2 * n / best / 1e9:.2f} GHz")


def decoders(data: Path, repeat: int) -> None:
    from selo_metrics import read_map
    from selo_metrics._workspace import reading_into

    def reused(f: Path) -> np.ndarray:
        with reading_into():
            return read_map(f)

    maps = _jpegs(data)
    try:
        import cv2
    except ImportError:
        cv2 = None
    print("| map | Mpx | Pillow (read_map, a new array) | Pillow into the runner's reused "
          "buffer | OpenCV (imread) | same pixels |\n|---|---|---|---|---|---|")
    for f in maps[:3]:
        gray = read_map(f)
        px = gray.size
        cells = []
        for fn in (read_map, reused):
            t = min(_timed(lambda f=f, fn=fn: fn(f)) for _ in range(repeat))
            cells.append(f"{t * 1e3:.0f} ms ({t / px * 1e9:.2f} ns/px)")
        same = np.array_equal(reused(f), gray)
        ocv_cell = "not installed"
        if cv2 is not None:
            ocv = min(_timed(lambda f=f: cv2.imread(str(f), cv2.IMREAD_GRAYSCALE))
                      for _ in range(repeat))
            ocv_cell = f"{ocv * 1e3:.0f} ms ({ocv / px * 1e9:.2f} ns/px)"
            same = same and np.array_equal(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), gray)
        cells += [ocv_cell, str(same)]
        print(f"| {f.name} | {px / 1e6:.1f} | " + " | ".join(cells) + " |")
    _new_or_reused(sorted(maps)[:100], read_map, reused, repeat)


def _new_or_reused(files: list[Path], new, reused, rounds: int) -> None:
    """The first 100 maps of the set decoded one after the other, as a worker does, into new
    arrays and into the reused buffer, by turns: CPU and page faults a map."""
    import resource

    print(f"\n{len(files)} maps in turn, {rounds} rounds of each, by turns "
          "(CPU ns a pixel; minor page faults a map):")
    got: dict[str, list[str]] = {"new array": [], "reused buffer": []}
    for _ in range(rounds):
        for name, fn in (("new array", new), ("reused buffer", reused)):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.thread_time()
            px = sum(fn(f).size for f in files)
            t = time.thread_time() - t
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            got[name].append(f"{t / px * 1e9:.3f} ({faults / len(files):.0f})")
    for name, cells in got.items():
        print(f"  {name:14} " + "  ".join(cells))


CHILD = r"""
import json, os, sys, time
import numpy as np
os.environ["SELO_NUM_THREADS"] = "1"
what, map_path, jpeg, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if what == "box":
    from selo_metrics._kernels.box import box_filter_passes
    gray = np.load(map_path)
    bufs = (np.empty_like(gray), np.empty_like(gray))
    f = lambda: box_filter_passes(gray, 50, 5, 1, bufs)
else:
    from selo_metrics import read_map
    f = lambda: read_map(jpeg)
f()
print("ready", flush=True)
sys.stdin.readline()  # start together
ts, end = [], time.time() + seconds
while time.time() < end:
    t = time.thread_time(); f(); ts.append(time.thread_time() - t)
print(json.dumps({"what": what, "median_ms": 1e3 * float(np.median(ts)), "n": len(ts)}))
"""


def contention(data: Path, seconds: float) -> None:
    map_path = _map_npy()
    jpegs = _jpegs(data)
    jpeg = str(jpegs[len(jpegs) // 2])  # a map of middling size
    print(f"| processes at once | box filter x5, 10k (median CPU ms) | decoding {Path(jpeg).name}"
          " (median CPU ms) |\n|---|---|---|")
    for kinds in (["box"], ["box", "box"], ["decode"], ["decode", "decode"], ["box", "decode"]):
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, k, map_path, jpeg, str(seconds)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for k in kinds]
        for p in procs:
            p.stdout.readline()  # compiled and warmed
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        res = [json.loads(p.communicate()[0]) for p in procs]
        box = [f"{r['median_ms']:.1f}" for r in res if r["what"] == "box"]
        dec = [f"{r['median_ms']:.1f}" for r in res if r["what"] == "decode"]
        print(f"| {' + '.join(kinds)} | {', '.join(box) or '-'} | {', '.join(dec) or '-'} |")


def rows(repeat: int) -> None:
    from selo_metrics._kernels import box

    rng = np.random.default_rng(0)
    print("| map | ns a pixel and pass | ns a row and pass |\n|---|---|---|")
    for w in (128, 256, 1024, 3072):
        h = 10_000_000 // w
        g = rng.integers(0, 256, (h, w)).astype(np.uint8)
        bufs = (np.empty_like(g), np.empty_like(g))  # reused, as evaluate reuses its own
        box.box_filter_passes(g, 50, 5, 1, bufs)
        t = min(_timed(lambda g=g, b=bufs: box.box_filter_passes(g, 50, 5, 1, b))
                for _ in range(repeat))
        print(f"| {h} x {w} | {t / (h * w * 5) * 1e9:.3f} | {t / (h * 5) * 1e9:.0f} |")
    strided(rng, repeat)
    gray = np.load(_map_npy())
    bufs = (np.empty_like(gray), np.empty_like(gray))
    ref = box.box_filter_passes(gray, 50, 5, 1)[0]
    default = box.TILE
    times: dict[int, list[float]] = {}
    try:
        for _ in range(3):  # by turns, so the machine's drift falls on every width
            for tile in (1024, 1536, 2048, 3072, 6144):
                box.TILE = tile
                if not np.array_equal(box.box_filter_passes(gray, 50, 5, 1, bufs)[0], ref):
                    raise SystemExit(f"error: TILE = {tile} changed the result")
                times.setdefault(tile, []).append(min(
                    _timed(lambda: box.box_filter_passes(gray, 50, 5, 1, bufs))
                    for _ in range(3)))
    finally:
        box.TILE = default
    print(f"\n10000 x 10000, box filter x5 by tile width (ms, best of 3, three rounds; "
          f"the default is {default}):")
    for tile, ts in times.items():
        print(f"  {tile}: " + " ".join(f"{t * 1e3:.1f}" for t in ts))


def strided(rng: np.random.Generator, repeat: int) -> None:
    """The same 10000 x 1024 strip filtered as a contiguous map and as a view of a
    10240-column map (rows 1 KB long at a 10 KB stride, as a narrow tile of a wide map)."""
    from selo_metrics._kernels import box

    wide = rng.integers(0, 256, (10000, 10240)).astype(np.uint8)
    out = np.empty_like(wide)
    views = (wide[:, :1024], out[:, :1024])
    copies = (np.ascontiguousarray(views[0]), np.empty((10000, 1024), np.uint8))
    rounds: dict[str, list[float]] = {"contiguous": [], "strided": []}
    for _ in range(3):
        for name, (src, dst) in (("contiguous", copies), ("strided", views)):
            box.box_filter_u8(src, dst, 50, 1 / 2500, True, 1, 5)
            t = min(_timed(lambda s=src, d=dst: box.box_filter_u8(s, d, 50, 1 / 2500, True, 1, 5))
                    for _ in range(repeat))
            rounds[name].append(t / src.size / 5 * 1e9)
    if not np.array_equal(copies[1], views[1]):
        raise SystemExit("error: the strided strip's result differs")
    print("\n10000 x 1024 strip, ns a pixel and pass (three rounds): " + "; ".join(
        f"{name} " + " ".join(f"{x:.3f}" for x in v) for name, v in rounds.items()))


def _stream(nontemporal: bool):
    """A numba loop ``dst[i] = src[i] ^ 1``, 64 bytes a step, with ordinary or non-temporal
    stores (both arrays 64-byte aligned, their length a multiple of 64)."""
    import numba
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    vec = ir.VectorType(ir.IntType(8), 64)

    @intrinsic
    def step(typingctx, src, dst, i):
        def codegen(context, builder, sig, args):
            s = context.make_array(sig.args[0])(context, builder, args[0]).data
            d = context.make_array(sig.args[1])(context, builder, args[1]).data
            v = builder.load(builder.bitcast(builder.gep(s, [args[2]]), vec.as_pointer()),
                             align=64)
            v = builder.xor(v, ir.Constant(vec, [1] * 64))
            st = builder.store(v, builder.bitcast(builder.gep(d, [args[2]]), vec.as_pointer()),
                               align=64)
            if nontemporal:
                st.set_metadata("nontemporal", builder.module.add_metadata(
                    [ir.Constant(ir.IntType(32), 1)]))
            return context.get_dummy_value()

        return types.none(src, dst, i), codegen

    @numba.njit(nogil=True)
    def stream(src, dst):
        for i in range(0, src.shape[0], 64):
            step(src, dst, i)

    return stream


def stores(repeat: int) -> None:
    from selo_metrics._kernels import box

    n = 100_000_000
    src = box._aligned(n, np.uint8)  # on 64-byte lines, as the box filter's work rows
    src[:] = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8)
    outs = {"ordinary": box._aligned(n, np.uint8), "non-temporal": box._aligned(n, np.uint8)}
    loops = {name: _stream(name == "non-temporal") for name in outs}
    gray = np.load(_map_npy())
    bufs = (np.empty_like(gray), np.empty_like(gray))
    times: dict[str, list[float]] = {name: [] for name in (*outs, "box")}
    for _ in range(repeat):  # by turns
        for name, loop in loops.items():
            times[name].append(_timed(lambda loop=loop, o=outs[name]: loop(src, o)))
        times["box"].append(_timed(lambda: box.box_filter_passes(gray, 50, 5, 1, bufs)))
    if not np.array_equal(outs["ordinary"], outs["non-temporal"]) or outs["ordinary"][0] != (
            src[0] ^ 1):
        raise SystemExit("error: the two streams wrote different bytes")
    print("| 100 MB read, 100 MB written | best ms | its write rate |\n|---|---|---|")
    for name, label in (("ordinary", "ordinary stores"), ("non-temporal", "non-temporal "
                        "stores"), ("box", "box filter x5, 10k (writes its result once)")):
        t = min(times[name])
        print(f"| {label} | {t * 1e3:.1f} | {n / t / 1e9:.1f} GB/s |")


def _jpegs(data: Path) -> list[Path]:
    """The JPEG maps of the runner's set, largest file first."""
    files = sorted((data / "maps").glob("*.jpg"), key=lambda f: -f.stat().st_size)
    if not files:
        raise SystemExit(f"error: no maps in {data / 'maps'}: run bench_runner.py first")
    return files


def _timed(fn) -> float:
    t = time.thread_time()
    fn()
    return time.thread_time() - t


def _map_npy() -> str:
    from bench_metrics import make_case

    WORK.mkdir(exist_ok=True)
    return str(make_case(10000, WORK)[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("probes", nargs="*", metavar="PROBE",
                   help=f"any of {', '.join(PROBES)} (default: all)")
    p.add_argument("--data", type=Path,
                   default=Path(tempfile.gettempdir()) / "selo-bench-xemapset",
                   help="the runner's set (bench_runner.py --data)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args(argv)
    unknown = sorted(set(args.probes) - set(PROBES))
    if unknown:
        p.error(f"unknown probe {', '.join(unknown)}: choose from {', '.join(PROBES)}")
    print(f"# load average {os.getloadavg()[0]:.2f}, {time.strftime('%H:%M UTC', time.gmtime())}")
    for probe in args.probes or PROBES:
        print(f"\n## {probe}")
        if probe == "clock":
            clock()
        elif probe == "decoders":
            decoders(args.data, args.repeat)
        elif probe == "contention":
            contention(args.data, args.seconds)
        elif probe == "rows":
            rows(args.repeat)
        else:
            stores(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
