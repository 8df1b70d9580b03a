"""Side by side: selo_metrics vs the official SLM code on the same maps, in one run.

Usage::

    python benchmarks/bench_metrics.py                      # 3000 and 10000, official at
                                                            # ../shared/reference/slm
    python benchmarks/bench_metrics.py --sizes 3000 --repeat 5
    python benchmarks/bench_metrics.py --reference /path/to/SemanticLocalizationMetrics/evaluations

Each measurement runs in a fresh process so that its peak RSS (``ru_maxrss``) is the whole
process's own: interpreter, imports, the map, and the evaluation. Both sides score the same
uint8 map (a deterministic synthetic map of each ``--kinds`` around AIR-SLT scene 21's
polygons, scaled to the size) held in memory, so file decoding is left out of both; the
official side's time includes its ``gray / 255.0`` conversion, which its
``read_gray_to_prob`` does. Both sides are timed warm, as in an evaluation loop over a test
set: after one untimed call, ours is the best of ``--repeat`` calls of
``selo_metrics.evaluate`` and the official code's the best of ``--repeat-official`` calls
(its first call in a process is much slower: 1.5-2.2 s against 0.7 s at 3000 x 3000 here).
JIT compilation is measured separately, in a process with an empty numba cache, and
excluded from the ratio.

The official code needs opencv-python-headless, scipy and scikit-image
(``pip install -e .[bench]``); without them, or without the reference directory, the
comparison is skipped with a message and only our side is measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the official code: $SELO_SHARED/reference/slm (as the tests find the shared material), else
# ../shared/reference/slm beside the repository
DEFAULT_REFERENCE = Path(os.environ.get("SELO_SHARED") or HERE.parent.parent / "shared") / (
    "reference/slm"
)
TARGETS = {3000: 60.0, 10000: 100.0}  # issue 15
RSS_TARGET_MB = {10000: 700.0}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared), as text."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_case(size: int, workdir: Path, kind: str = "focused") -> tuple[Path, Path]:
    """Write the map (.npy) and polygons (.json) for one size and kind; return their paths."""
    import numpy as np

    from selo_metrics.data import load_air_slt, scene_size, synthetic_map

    anno = load_air_slt()
    item = next(a for a in anno if a["jpg_name"] == "21.jpg")
    scale = size / max(scene_size(anno, "21.jpg"))
    polys = [[[x * scale, y * scale] for x, y in poly] for poly in item["points"]]
    gray = synthetic_map((size, size), polys, kind=kind, seed=size)
    map_path = workdir / f"map_{size}_{kind}.npy"
    poly_path = workdir / f"polys_{size}_{kind}.json"
    np.save(map_path, gray)
    poly_path.write_text(json.dumps(polys))
    return map_path, poly_path


def worker_ours(map_path: str, poly_path: str, repeat: int) -> dict:
    import numpy as np

    t0 = time.perf_counter()
    import selo_metrics

    t_import = time.perf_counter() - t0
    gray = np.load(map_path)
    polys = json.loads(Path(poly_path).read_text())
    t0 = time.perf_counter()
    res = selo_metrics.evaluate(gray, polys)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = selo_metrics.evaluate(gray, polys)
        times.append(time.perf_counter() - t0)
    return {"import_s": t_import, "first_call_s": first, "best_s": min(times),
            "times_s": times, "metrics": [res.rsu, res.ras, res.rda, res.rmi],
            "peak_rss_mb": peak_rss_mb()}


def worker_official(map_path: str, poly_path: str, repeat: int, reference: str) -> dict:
    import logging

    import numpy as np

    spec = importlib.util.spec_from_file_location("official_slm", Path(reference) / "SLM.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    gray = np.load(map_path)
    polys = json.loads(Path(poly_path).read_text())
    slm = mod.SLM()
    logging.disable(logging.INFO)
    times = []
    for i in range(repeat + 1):  # the first call is a warm-up, as on our side
        t0 = time.perf_counter()
        # SLM.evaluate without its imread: read_gray_to_prob's conversion, then its steps
        prob = gray / 255.0
        mask = slm.generate_mask_by_points(prob, polys)
        rsu = slm.rsu(prob, mask)
        ras = slm.ras(polys, prob, visual=False)
        rda = slm.rda(polys, prob)
        rmi = slm.rmi(rsu, rda, ras)
        if i > 0:
            times.append(time.perf_counter() - t0)
        del prob, mask
    return {"best_s": min(times), "times_s": times,
            "metrics": [float(rsu), float(ras), float(rda), float(rmi)],
            "peak_rss_mb": peak_rss_mb()}


def run_worker(args: list[str], env: dict | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def official_available(reference: Path) -> str | None:
    """None when the official code can run, else the reason it cannot."""
    if not (reference / "SLM.py").exists():
        return f"no SLM.py under {reference}"
    missing = [m for m in ("cv2", "scipy", "skimage") if importlib.util.find_spec(m) is None]
    if missing:
        return f"the official code's dependencies are missing: {missing} (pip install -e .[bench])"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[3000, 10000])
    p.add_argument("--kinds", nargs="+", default=["focused"],
                   help="synthetic map kinds (focused, shifted, scattered)")
    p.add_argument("--repeat", type=int, default=3, help="warm calls of ours (best is kept)")
    p.add_argument("--repeat-official", type=int, default=2,
                   help="timed calls of the official code after its warm-up (best is kept)")
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        kind, map_path, poly_path, repeat, *rest = args.worker
        if kind == "ours":
            out = worker_ours(map_path, poly_path, int(repeat))
        else:
            out = worker_official(map_path, poly_path, int(repeat), rest[0])
        print(json.dumps(out))
        return 0

    import numba

    reason = official_available(args.reference)
    print(f"# selo_metrics vs official SLM, {os.cpu_count()} CPU(s), numba "
          f"{numba.__version__}, {numba.config.NUMBA_NUM_THREADS} thread(s), load average "
          f"{load_average()}")
    if reason:
        print(f"# official comparison skipped: {reason}")
    results = []
    jit_s = None
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for size in args.sizes:
            for kind in args.kinds:
                map_path, poly_path = make_case(size, workdir, kind)
                base = [str(map_path), str(poly_path)]
                if jit_s is None:  # once: a process with an empty numba cache
                    cold_env = dict(os.environ, NUMBA_CACHE_DIR=str(workdir / "numba-cache"))
                    cold = run_worker(["ours", *base, "1"], env=cold_env)
                    jit_s = cold["first_call_s"] - cold["best_s"]
                ours = run_worker(["ours", *base, str(args.repeat)])
                row = {"size": size, "kind": kind, "ours": ours, "jit_compile_s": jit_s}
                if not reason:
                    off = run_worker(["official", *base, str(args.repeat_official),
                                      str(args.reference)])
                    row["official"] = off
                    row["ratio"] = off["best_s"] / ours["best_s"]
                    row["max_abs_diff"] = max(abs(a - b) for a, b in
                                              zip(off["metrics"], ours["metrics"], strict=True))
                row["load_average"] = load_average()
                results.append(row)
                print_row(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def print_row(row: dict) -> None:
    size, ours = row["size"], row["ours"]
    line = (f"{size} x {size} {row['kind']}: ours {ours['best_s']:.3f} s (first call in a "
            f"fresh process {ours['first_call_s']:.3f} s; JIT compile, excluded: "
            f"{row['jit_compile_s']:.1f} s), peak RSS {ours['peak_rss_mb']:.0f} MB")
    print(line)
    if "official" in row:
        off = row["official"]
        target = TARGETS.get(size)
        verdict = "" if target is None else (
            f" (target >= {target:.0f}x: {'met' if row['ratio'] >= target else 'NOT met'})")
        print(f"    official {off['best_s']:.3f} s, peak RSS {off['peak_rss_mb']:.0f} MB -> "
              f"{row['ratio']:.1f}x faster{verdict}; metrics max |diff| "
              f"{row['max_abs_diff']:.1e}; load average after {row['load_average']}")
    rss_target = RSS_TARGET_MB.get(size)
    if rss_target is not None:
        print(f"    our peak RSS {ours['peak_rss_mb']:.0f} MB (target <= {rss_target:.0f} MB: "
              f"{'met' if ours['peak_rss_mb'] <= rss_target else 'NOT met'})")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
