"""A small mutation pass: does the test suite notice realistic one-line bugs in the core?

Usage::

    python tools/mutation_pass.py TREE [--only N ...] [--out results.json]

``TREE`` is a copy of the repository (``git worktree add`` or ``git archive | tar -x``): each
mutation edits one line of it, runs the tests that guard that module (``pytest -x``, slow
tests deselected), and restores the file. A mutation is *killed* when a test fails, *survives*
when they pass, *n/a* when its line is not in this tree. Each run gets a numba cache of its
own, keyed on the numba sources, so no mutation runs stale machine code. Mutations marked
``equivalent`` below cannot change any result and are left out. Run it with ``nice``: it
takes tens of minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T = "tests/selo_metrics/"
METRIC_TESTS = [T + "test_conformance.py", T + "test_invariants.py"]
KERNEL_TESTS = [T + "test_kernels.py"]
BOX_TESTS = [T + "test_kernels.py", T + "test_box_pipeline.py", T + "test_scan.py"]
LANE_TESTS = [T + "test_lanes.py", T + "test_box_pipeline.py"]
SUMS_TESTS = [T + "test_kernels.py", T + "test_conformance.py", T + "test_compat.py"]
LAZY_TESTS = [T + "test_lastpass.py", T + "test_conformance.py"]
BLOCKMAX_TESTS = [T + "test_blockmax.py", T + "test_lastpass.py"]
PEAK_TESTS = [T + "test_peaks_blocks.py", T + "test_lastpass.py"]
ACC_TESTS = [T + "test_accumulate.py", T + "test_cli_report.py"]
IO_TESTS = [T + "test_io.py", T + "test_io_gamma.py"]
GEO_TESTS = [T + "test_geometry.py", T + "test_errors.py", T + "test_invariants.py"]
MCMG_TESTS = ["tests/xemap/test_mcmg.py"]
HMSA_TESTS = ["tests/xemap/test_models_hmsa.py", "tests/xemap/test_hmsa_scale.py"]

#: (file, original text, mutated text, tests); the original must occur exactly once
MUTATIONS: list[tuple[str, str, str, list[str]]] = [
    # metrics
    ("selo_metrics/metrics.py", "kept = d[d <= reg[2]]", "kept = d[d < reg[2]]", METRIC_TESTS),
    ("selo_metrics/metrics.py", "inside = pts[_distances(reg, pts) <= reg[2]]",
     "inside = pts[_distances(reg, pts) < reg[2]]", METRIC_TESTS),
    ("selo_metrics/metrics.py", "if k <= 1:", "if k < 1:", METRIC_TESTS),
    ("selo_metrics/metrics.py", "values.append(((1 - spread) + tail) / 2)",
     "values.append((1 - spread) / 2 + tail)", METRIC_TESTS),
    ("selo_metrics/metrics.py", "right = (h * w - area) / area",
     "right = (h * w - area) / (area + 1)", METRIC_TESTS),
    ("selo_metrics/metrics.py", "left = in_gt / (total - in_gt + conv.rsu_eps)",
     "left = in_gt / (total + conv.rsu_eps)", METRIC_TESTS),
    ("selo_metrics/metrics.py", "        g = 1.0\n", "        g = 0.0\n", METRIC_TESTS),
    ("selo_metrics/metrics.py", "return w_su * rsu + w_as * (1 - ras) + w_da * rda",
     "return w_su * rsu + w_as * ras + w_da * rda", METRIC_TESTS),
    ("selo_metrics/metrics.py", "(-conv.rda_eta * (k + 2))", "(-conv.rda_eta * (k + 1))",
     METRIC_TESTS),
    # attention
    ("selo_metrics/attention.py", "py = min(int(np.rint(cy)), h - 1)",
     "py = min(int(cy), h - 1)", METRIC_TESTS),
    ("selo_metrics/attention.py", "px = min(int(np.rint(cx)), w - 1)",
     "px = min(int(np.ceil(cx)), w - 1)", METRIC_TESTS),
    ("selo_metrics/attention.py", "if e[2] >= threshold]", "if e[2] > threshold]",
     METRIC_TESTS),
    ("selo_metrics/attention.py", "entries.sort(key=lambda e: e[2], reverse=True)",
     "entries.sort(key=lambda e: e[2])", METRIC_TESTS),
    ("selo_metrics/attention.py", "cy = int(comps.sum_row[c]) // n",
     "cy = round(int(comps.sum_row[c]) / n)", METRIC_TESTS),
    # geometry
    ("selo_metrics/geometry.py", "box = shapely.box(0, 0, w - 1, h - 1)",
     "box = shapely.box(0, 0, w, h)", GEO_TESTS),
    ("selo_metrics/geometry.py", "r = int(np.mean(dists) * expand_factor)",
     "r = round(np.mean(dists) * expand_factor)", [*GEO_TESTS, T + "test_conformance.py"]),
    # kernels
    ("selo_metrics/_kernels/box.py",
     "fast = np.rint(s.astype(np.float32) * np.float32(1.0 / (k * k)))",
     "fast = np.rint(s.astype(np.float64) * np.float32(1.0 / (k * k)))", KERNEL_TESTS),
    ("selo_metrics/_kernels/boxrows.py",
     "off = (64 - raw.ctypes.data % 64) % 64 // raw.itemsize", "off = 0", BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py",
     "out[x] = np.int32(np.rint(np.float64(v) * scale))",
     "out[x] = np.int32(np.float64(v) * scale + 0.5)", BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py",
     "out[x] = np.int32(np.rint(np.float32(v) * s32))",
     "out[x] = np.int32(np.float32(v) * s32 + np.float32(0.5))", BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py", "if before + after >= 128:", "if before + after >= 129:",
     BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py", "b = ring[reflect101(y - 1 - before, h) % R][:n]",
     "b = ring[reflect101(y - before, h) % R][:n]", BOX_TESTS),
    ("selo_metrics/_kernels/scan.py", "builder.store(builder.add(v, tot), ",
     "builder.store(v, ", BOX_TESTS),
    ("selo_metrics/_kernels/scan.py", "    hi = p[k : k + n]", "    hi = p[k - 1 : k - 1 + n]",
     BOX_TESTS),
    ("selo_metrics/_kernels/borders.py", "i = 2 * n - 2 - i", "i = 2 * n - 1 - i",
     KERNEL_TESTS),
    ("selo_metrics/_kernels/borders.py", "        i = p - 1 - i", "        i = p - i",
     KERNEL_TESTS),
    ("selo_metrics/_kernels/maxfilter.py", "v[x] = 1 if (val > 0) & (val == rowmax[x]) else 0",
     "v[x] = 1 if (val == rowmax[x]) else 0", KERNEL_TESTS),
    ("selo_metrics/_kernels/maxfilter.py", "nruns = np.int64(v[0])", "nruns = np.int64(0)",
     KERNEL_TESTS),
    ("selo_metrics/_kernels/maxfilter.py", "if x != last + 1:", "if x != last:", KERNEL_TESTS),
    ("selo_metrics/_kernels/labels.py", "a1 = x1s[k] + 1", "a1 = x1s[k]", KERNEL_TESTS),
    ("selo_metrics/_kernels/labels.py", "while jj < prev_end and x0s[jj] <= a1:",
     "while jj < prev_end and x0s[jj] < a1:", KERNEL_TESTS),
    # the Rsu sums (main: integer sums; this branch: numpy's pairwise order)
    ("selo_metrics/_kernels/pairwise.py",
     "masked_vals = builder.select(inside, vals, zero)", "masked_vals = vals", SUMS_TESTS),
    ("selo_metrics/_kernels/pairwise.py", 'inside = builder.icmp_unsigned("!=", m,',
     'inside = builder.icmp_unsigned("==", m,', SUMS_TESTS),
    ("selo_metrics/_kernels/pairwise.py", "    return half - half % 8", "    return half",
     SUMS_TESTS),
    ("selo_metrics/_kernels/pairwise.py", "C2 = 1.3932210505100003e-17", "C2 = 0.0",
     SUMS_TESTS),
    ("selo_metrics/_kernels/pairwise.py",
     "l2 = [_pairs(builder, l1[0], l1[1]), _pairs(builder, l1[2], l1[3])]",
     "l2 = [_pairs(builder, l1[0], l1[2]), _pairs(builder, l1[1], l1[3])]", SUMS_TESTS),
    ("selo_metrics/_kernels/pairwise.py", "for g in range((nl + 7) // 8):",
     "for g in range(nl // 8):", SUMS_TESTS),
    ("selo_metrics/_kernels/sums.py", ">> np.uint64(56)", ">> np.uint64(48)", SUMS_TESTS),
    # the last box pass only where the peak search reads it
    ("selo_metrics/_kernels/lastpass.py", "math.ceil(halo / B)", "math.ceil(halo / B) - 1",
     LAZY_TESTS),
    ("selo_metrics/_kernels/lastpass.py", "read[y, x] |= V[y, x] > v", "read[y, x] |= False",
     LAZY_TESTS),
    ("selo_metrics/_kernels/lastpass.py",
     "while V[by, bx] > 0 and V[by, bx] >= lb[by, bx]:", "while False:", LAZY_TESTS),
    ("selo_metrics/_kernels/boxrect.py", "acc += np.int32(hi[j]) - np.int32(lo[j])",
     "acc += np.int32(hi[j])", LAZY_TESTS),
    ("selo_metrics/_kernels/pairwise.py", "BLOCK = 128", "BLOCK = 64", SUMS_TESTS),
    ("selo_metrics/_kernels/pairwise.py", "if start < hi and start + n > lo:",
     "if start < hi and start > lo:", SUMS_TESTS),
    # accumulator and summaries
    ("selo_metrics/accumulate.py",
     'key=lambda r: (r.get("index") is None, r.get("index") or 0)',
     'key=lambda r: (False, r.get("index") or 0)', ACC_TESTS),
    ("selo_metrics/accumulate.py", "        _check_attributes(attributes)\n        rrsis",
     "        rrsis", ACC_TESTS),
    ("selo_metrics/report.py", "out[key] = math.fsum(r[key] for r in ok) / n if n else None",
     "out[key] = sum(r[key] for r in ok) / n if n else None", ACC_TESTS),
    ("selo_metrics/report.py", "str(value).lower() if isinstance(value, bool)",
     "str(value) if isinstance(value, bool)", ACC_TESTS),
    # PNG gamma
    ("selo_metrics/_png_gamma.py", "return g < 95000 or g > 105000",
     "return g <= 95000 or g > 105000", IO_TESTS),
    ("selo_metrics/_png_gamma.py", "return g < 95000 or g > 105000",
     "return g < 95000 or g >= 105000", IO_TESTS),
    ("selo_metrics/_png_gamma.py", 'return round(float(info["gamma"]) * 100000)',
     'return int(float(info["gamma"]) * 100000)', IO_TESTS),
    ("selo_metrics/_png_gamma.py", "floor(1e10 / a + 0.5)", "floor(1e10 / a)", IO_TESTS),
    ("selo_metrics/_png_gamma.py", "floor(255 * (i / 255.0) ** (gamma * 0.00001) + 0.5)",
     "floor(255 * (i / 255.0) ** (gamma * 0.00001))", IO_TESTS),
    # MCMG
    ("xemap/data/mcmg.py", "return np.round(np.linspace(0, n_pixels, n_cells + 1))",
     "return np.floor(np.linspace(0, n_pixels, n_cells + 1))", MCMG_TESTS),
    ("xemap/data/mcmg.py", "min(math.ceil(4.0 * sigma), size - 1)",
     "min(math.ceil(3.0 * sigma), size - 1)", MCMG_TESTS),
    ("xemap/data/mcmg.py", 'padded = np.pad(out, pad, mode="symmetric")',
     'padded = np.pad(out, pad, mode="reflect")', MCMG_TESTS),
    ("xemap/data/mcmg.py", "sigma = max(h, w) / (2.0 * max(grids))",
     "sigma = max(h, w) / (4.0 * max(grids))", MCMG_TESTS),
    ("xemap/data/mcmg.py", "frac = sums / area", "frac = sums / area.max()", MCMG_TESTS),
    ("xemap/data/mcmg.py", "k = np.exp(-0.5 * (x / sigma) ** 2)", "k = np.exp(-(x / sigma) ** 2)",
     MCMG_TESTS),
    # HMSA
    ("xemap/models/xemap_network/hmsa.py", "_EPS = 1e-12", "_EPS = 1e-6", HMSA_TESTS),
    # workspace
    ("selo_metrics/_workspace.py",
     'return _flat(kept, "map", need).reshape(shape), _flat(kept, "map2", need).reshape(shape)',
     'return _flat(kept, "map", need).reshape(shape), _flat(kept, "map", need).reshape(shape)',
     [T + "test_workspace.py"]),
    # compat
    ("selo_metrics/compat.py", "return self.rmi_wsu * rsu + self.rmi_was * (1 - ras)",
     "return self.rmi_wsu * rsu + self.rmi_was * (1 - rda)", [T + "test_compat.py"]),
    ("selo_metrics/compat.py", "dises = [d for d in dises if d <= r]",
     "dises = [d for d in dises if d < r]", [T + "test_compat.py"]),
    # the runner's read buffer (appended, so the numbers above stay)
    ("selo_metrics/_workspace.py", '    return _flat(_kept(), "read", need).reshape(shape)',
     "    return map_buffers(shape)[0]", [T + "test_workspace.py"]),
    ("selo_metrics/_workspace.py", "        _local.reading = before",
     "        _local.reading = True", [T + "test_workspace.py"]),
    # the last pass's block maxima in registers
    ("selo_metrics/_kernels/blockmax.py", "            at += 1 << s",
     "            at += (1 << s) + 1", BLOCKMAX_TESTS),
    ("selo_metrics/_kernels/blockmax.py", "leave = source_row(builder.sub(y, ir.Constant(i64, 1)))",
     "leave = source_row(y)", BLOCKMAX_TESTS),
    ("selo_metrics/_kernels/blockmax.py", 'builder.icmp_signed(">", total, old), total, old)',
     'builder.icmp_signed(">", total, old), old, total)', BLOCKMAX_TESTS),
    ("selo_metrics/_kernels/blockmax.py", "col + B + k - 1 > w", "col + B + k - 2 > w",
     BLOCKMAX_TESTS),
    ("selo_metrics/_kernels/blockmax.py", "return not last_row_read or col + READ <= w",
     "return True", BLOCKMAX_TESTS),
    ("selo_metrics/_kernels/blockmax.py", "np.rint(np.float64(top) * scale)",
     "np.floor(np.float64(top) * scale)", BLOCKMAX_TESTS),
    ("selo_metrics/_kernels/lastpass.py", "row_offsets(src, y0, y1, k, rows)",
     "row_offsets(src, y0 + 1, y1 + 1, k, rows)", BLOCKMAX_TESTS),
    # the workspace's cap on what a thread keeps
    ("selo_metrics/_workspace.py",
     "if sum(a.size for a in kept.values() if a is not None) + need <= _cap_bytes():",
     "if sum(a.size for a in kept.values() if a is not None) <= _cap_bytes():",
     [T + "test_workspace.py"]),
    # the Rsu leaves' tails; the side-by-side queue's order on one thread
    ("selo_metrics/_kernels/pairwise.py", "        if n % 8 == 0:", "        if n % 8 < 4:",
     SUMS_TESTS),
    ("selo_metrics/side_by_side.py", "(jobs.first if nthreads == 1 else jobs.add)(rsu_mask)",
     "jobs.add(rsu_mask)", [T + "test_side_by_side.py"]),
    # the box pipeline's row pairs: the ring's capacity, the wait for the second row's window,
    # the pairs' k limit, the second row's rounding
    ("selo_metrics/_kernels/box.py", "R = k + 3", "R = k + 2", BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py",
     "if not (two and _window_top(y + 1, before, after, h) >= nin[s]):", "if True:",
     BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py", "before, after, before + after < 128",
     "before, after, before + after < 129", BOX_TESTS),
    ("selo_metrics/_kernels/boxrows.py",
     "out1[x] = np.int32(np.rint(np.float32(v) * s32))",
     "out1[x] = np.int32(np.float32(v) * s32 + np.float32(0.5))", BOX_TESTS),
    # the scan's running total, advanced by each chunk's own total
    ("selo_metrics/_kernels/scan.py", "builder.store(builder.add(tot, own), total)",
     "builder.store(own, total)", BOX_TESTS),
    # the plan: row bands for a square map one tile wide
    ("selo_metrics/_kernels/box.py", "(nx == 1 and h >= w)", "(nx == 1 and h > w)", BOX_TESTS),
    # the peak search's range maxima (the second start of a range, the levels built) and its
    # runs written in one pass (a run extended at the room's last entry)
    ("selo_metrics/_kernels/peaks.py", "far[i] = hi[i] - (1 << j) + 1",
     "far[i] = hi[i] - (1 << j)", PEAK_TESTS),
    ("selo_metrics/_kernels/peaks.py", "for j in range(1, top + 1):", "for j in range(1, top):",
     PEAK_TESTS),
    ("selo_metrics/_kernels/peaks.py", "                        if n <= cap:\n"
     "                            x1s[n - 1] = x0 + seg.shape[0] - 1",
     "                        if n < cap:\n"
     "                            x1s[n - 1] = x0 + seg.shape[0] - 1", PEAK_TESTS),
    # the box pipeline's lane layout: the running sum's leaving position, the transposes'
    # order and blocks, the aprons' lanes, the source row's own edges, the reflected
    # columns' fix-ups, the segments long enough for one lane's reach
    ("selo_metrics/_kernels/lanes.py",
     "b = builder.load(_at(builder, src, builder.sub(p, one), _I16), align=2)",
     "b = builder.load(_at(builder, src, p, _I16), align=2)", LANE_TESTS),
    ("selo_metrics/_kernels/lanes.py", "p0 = builder.mul(builder.sub(last, loop.index), c)",
     "p0 = builder.mul(loop.index, c)", LANE_TESTS),
    ("selo_metrics/_kernels/lanes.py",
     "lo = ir.Constant(_MASK, [j if not j & s else NL + j - s for j in range(NL)])",
     "lo = ir.Constant(_MASK, [j if not j & s else NL + j for j in range(NL)])", LANE_TESTS),
    ("selo_metrics/_kernels/boxlanes.py", "    from_above(e[before * NL : (before + after) * NL],",
     "    from_below(e[before * NL : (before + after) * NL],", LANE_TESTS),
    ("selo_metrics/_kernels/boxlanes.py", "e[q * NL] = X[q]", "e[q * NL] = X[q + 1]",
     LANE_TESTS),
    ("selo_metrics/_kernels/boxlanes.py", "        e[q * NL + NL - 1] = X[(NL - 1) * S + q]",
     "        pass", LANE_TESTS),
    ("selo_metrics/_kernels/boxlanes.py",
     "fix[count, 1] = (before + d % S) * NL + d // S",
     "fix[count, 1] = (before + d % S + 1) * NL + d // S", LANE_TESTS),
    ("selo_metrics/_kernels/boxlanes.py", "s < max(k // 2, k - k // 2 - 1, 1)",
     "s < max(k // 2 - 1, k - k // 2 - 2, 1)", LANE_TESTS),
]

#: mutations that cannot change a result: left out of the count (kept here as a record)
EQUIVALENT = [
    ("xemap/data/mcmg.py", "agg /= len(grids)", "the target is divided by its maximum"),
    ("selo_metrics/accumulate.py", "row.pop('error', None) after update's row.update",
     "update's rows never hold 'error'"),
]


def numba_hash(tree: Path) -> str:
    h = hashlib.sha256()
    for pkg in ("selo_metrics", "xemap"):
        for path in sorted((tree / pkg).rglob("*.py")):
            text = path.read_bytes()
            if b"numba" in text:
                h.update(str(path.relative_to(tree)).encode() + b"\0" + text + b"\0")
    return h.hexdigest()[:16]


def run_one(tree: Path, mutation, cache_root: Path, timeout: int) -> dict:
    rel, old, new, tests = mutation
    path = tree / rel
    result = {"file": rel, "from": old.strip(), "to": new.strip()}
    text = path.read_text() if path.exists() else ""
    tests = [t for t in tests if (tree / t).exists()]
    if text.count(old) != 1 or not tests:
        return {**result, "outcome": "n/a"}
    path.write_text(text.replace(old, new))
    try:
        env = dict(os.environ, PYTHONPATH=str(tree),
                   NUMBA_CACHE_DIR=str(cache_root / numba_hash(tree)))
        t0 = time.time()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                 "-m", "not slow", "--rootdir", str(tree), *tests],
                cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
            outcome = {0: "survived", 1: "killed"}.get(proc.returncode, f"error {proc.returncode}")
            tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout else []
        except subprocess.TimeoutExpired:
            outcome, tail = "killed (timeout)", []
        return {**result, "outcome": outcome, "seconds": round(time.time() - t0),
                "summary": tail[0] if tail else ""}
    finally:
        path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tree", type=Path)
    ap.add_argument("--only", type=int, nargs="*", help="mutation numbers (0-based)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()
    cache_root = Path(tempfile.gettempdir()) / "selo_metrics-mutation-numba"
    picked = args.only if args.only else range(len(MUTATIONS))
    results = []
    for i in picked:
        res = {"n": i, **run_one(args.tree.resolve(), MUTATIONS[i], cache_root, args.timeout)}
        results.append(res)
        print(f"{i:2d} {res['outcome']:<16} {res['file']}: {res['from'][:60]!r}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
    counted = [r for r in results if r["outcome"] != "n/a"]
    killed = sum(r["outcome"].startswith("killed") for r in counted)
    print(f"killed {killed} of {len(counted)} ({100 * killed / max(1, len(counted)):.0f} %)")


if __name__ == "__main__":
    main()
