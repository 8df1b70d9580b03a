"""Throughput of ``selo-metrics score`` on a synthetic test set shaped like XeMap-Set.

XeMap-Set's test split has 1129 queries on 300 images of 1k-10k pixels. This script draws
300 synthetic maps whose sides are log-uniform in [1000, 10000] (aspect 3:4 to 4:3), writes
them as ``probmap`` JPEGs (quality 95, what the official generator writes) and a manifest of
1129 queries (each on one of the 300 maps, with its own 1-3 GT polygons and the XeMap-Set
attributes ``multi_hop`` / ``multi_ref``), then scores it with 1 worker, 2 workers and Dask
(a LocalCluster of 2 processes), each run into a fresh directory, in one invocation. It
reports wall time, maps/s and megapixels/s, the peak memory of the worker processes, and
checks that the three summaries are identical.

    python benchmarks/bench_runner.py                       # the whole set (about 15 GB/h...)
    python benchmarks/bench_runner.py --n 200 --distinct 60 # a quicker look
    python benchmarks/bench_runner.py --limit 300 --modes 2 dask 2 dask   # Dask / local, twice

Modes may repeat: they run in the order given (interleave them on a shared machine), and
the Dask / 2-process ratio is printed for each run of ``dask`` with the ``2`` run before it.

The maps are cached in ``--data`` (default: a folder in the temporary directory) and reused.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_set(data: Path, n: int, distinct: int, seed: int) -> Path:
    """Write the maps and the manifest (once); return the manifest path."""
    from PIL import Image

    from selo_metrics.data import synthetic_map

    manifest = data / f"xemapset_like_{n}_{distinct}_{seed}.jsonl"
    if manifest.exists():
        return manifest
    rng = np.random.default_rng(seed)
    maps = data / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    shapes = []
    t0 = time.perf_counter()
    for m in range(distinct):
        side = math.exp(rng.uniform(math.log(1000), math.log(10000)))
        aspect = math.exp(rng.uniform(math.log(0.75), math.log(4 / 3)))
        h, w = int(side * math.sqrt(aspect)), int(side / math.sqrt(aspect))
        h, w = min(max(h, 1000), 10000), min(max(w, 1000), 10000)
        shapes.append((h, w))
        path = maps / f"map_{m:04d}.jpg"
        if not path.exists():
            blob = _rect(rng, h, w)
            gray = synthetic_map((h, w), [blob], kind=("focused", "shifted", "scattered")[m % 3],
                                 seed=m)
            Image.fromarray(gray).save(path, quality=95)
        print(f"\rmaps {m + 1}/{distinct} ({time.perf_counter() - t0:.0f} s)", end="",
              file=sys.stderr)
    print(file=sys.stderr)
    lines = []
    for i in range(n):
        m = int(rng.integers(distinct)) if i >= distinct else i
        h, w = shapes[m]
        k = int(rng.integers(1, 4))
        lines.append({"id": f"q{i:04d}", "map": f"maps/map_{m:04d}.jpg",
                      "polygons": [_rect(rng, h, w) for _ in range(k)],
                      "query": f"synthetic query {i}",
                      "attributes": {"multi_hop": bool(rng.random() < 0.4),
                                     "multi_ref": k > 1}})
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def _rect(rng: np.random.Generator, h: int, w: int) -> list[list[float]]:
    rw, rh = rng.uniform(0.05, 0.25) * w, rng.uniform(0.05, 0.25) * h
    x0, y0 = rng.uniform(0, w - rw), rng.uniform(0, h - rh)
    return [[x0, y0], [x0 + rw, y0], [x0 + rw, y0 + rh], [x0, y0 + rh]]


def run_one(manifest: Path, out: Path, args: list[str]) -> dict:
    """One ``selo-metrics score`` in a fresh process: wall time and the workers' peak RSS."""
    cmd = [sys.executable, "-m", "selo_metrics.cli", "score", str(manifest), "--out", str(out),
           "--no-progress", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(
        os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    summary = json.loads((out / "summary.json").read_text())
    # peak RSS of the largest descendant process that was waited for, MB: the CLI (which
    # scores in-process with 1 worker); workers forked by a forkserver are not its children
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall_s": wall, "summary": summary, "peak_rss_mb_any_process_so_far": peak}


def _stages(sample) -> tuple[float, float]:
    """Decoding and metrics of one sample, timed apart (CPU time of this worker's thread); the
    map decoded into the thread's reusable buffer, as the runner's ``score_sample`` does."""
    from selo_metrics import evaluate, read_map
    from selo_metrics._workspace import reading_into

    t0 = time.thread_time()
    with reading_into():
        gray = read_map(sample.map, sample_id=sample.id)
    t1 = time.thread_time()
    evaluate(gray, sample.load_polygons(), sample_id=sample.id)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return t1 - t0, time.thread_time() - t1, peak


def floor(samples: list, workers: int) -> dict:
    """The floor of a run on ``workers`` processes of 1 thread: decoding alone and the metrics
    alone, each the CPU seconds of all samples divided by the workers (no idle, no overhead)."""
    from concurrent.futures import ProcessPoolExecutor

    from selo_metrics.workers import init_worker, process_context

    with ProcessPoolExecutor(workers, mp_context=process_context(), initializer=init_worker,
                             initargs=(None, 1)) as pool:
        list(pool.map(_stages, samples[:workers]))  # load the cached kernels in each worker
        t0 = time.perf_counter()
        times = list(pool.map(_stages, samples, chunksize=4))
        wall = time.perf_counter() - t0
    decode = sum(t[0] for t in times) / workers
    kernels = sum(t[1] for t in times) / workers
    return {"decode_s": decode, "metrics_s": kernels, "both_s": decode + kernels, "wall_s": wall,
            "peak_rss_mb_worker": max(t[2] for t in times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1129)
    parser.add_argument("--distinct", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "selo-bench-xemapset")
    parser.add_argument("--modes", nargs="+", default=["1", "2", "dask"],
                        help="worker counts and/or 'dask' (a LocalCluster of 2 processes), in "
                        "this order; repeats allowed")
    parser.add_argument("--limit", type=int, default=None,
                        help="score the first N samples of the set only (all distinct maps "
                        "when N <= --distinct)")
    parser.add_argument("--floor", action="store_true",
                        help="also time decoding and the metrics apart (2 processes)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    manifest = make_set(args.data, args.n, args.distinct, args.seed)
    from selo_metrics import load_samples

    samples = load_samples(manifest)[: args.limit]
    limit = [] if args.limit is None else ["--limit", str(args.limit)]
    from PIL import Image

    with warnings.catch_warnings():  # the 10k maps pass Pillow's 89 Mpx warning threshold
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        mpx = sum(math.prod(Image.open(s.map).size) for s in samples) / 1e6
    print(f"{len(samples)} maps, {mpx / len(samples):.1f} Mpx on average ({mpx / 1e3:.1f} Gpx "
          f"in all), {os.cpu_count()} cores", file=sys.stderr)
    runs: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # warm the JIT cache once, so no run pays the compilation
        run_one(manifest, Path(tmp) / "warm", ["--workers", "1", "--limit", "1"])
        for k, mode in enumerate(args.modes):
            extra = ["--dask", "local", "--workers", "2"] if mode == "dask" else [
                "--workers", mode]
            load_before = os.getloadavg()[0]
            r = run_one(manifest, Path(tmp) / f"run_{k}_{mode}", extra + limit)
            r["load"] = f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}"
            runs.append((mode, r))
            print(f"{mode:>5}: {r['wall_s']:.1f} s, {len(samples) / r['wall_s']:.1f} maps/s, "
                  f"{mpx / r['wall_s']:.0f} Mpx/s, load average (1 min) {r['load']}",
                  file=sys.stderr)
    keep = ("count", "scored", "failed", "rmi", "rsu", "ras", "rda", "by_attribute")

    def view(s: dict) -> dict:
        out = {k: s[k] for k in keep}
        out["by_attribute"] = {a: {v: {k: g[k] for k in keep if k in g} for v, g in d.items()}
                               for a, d in s["by_attribute"].items()}
        return out

    first = view(runs[0][1]["summary"])
    identical = all(view(r["summary"]) == first for _, r in runs)
    print("\n| run | wall | maps/s | Mpx/s | load average (1 min, before -> after) |\n"
          "|---|---|---|---|---|")
    for mode, r in runs:
        name = "Dask LocalCluster, 2 processes" if mode == "dask" else f"{mode} worker(s)"
        print(f"| {name} | {r['wall_s']:.1f} s | {len(samples) / r['wall_s']:.1f} | "
              f"{mpx / r['wall_s']:.0f} | {r['load']} |")
    ratios = []
    for k, (mode, r) in enumerate(runs):
        local = [q for m, q in runs[:k] if m == "2"]
        if mode == "dask" and local:
            ratios.append(r["wall_s"] / local[-1]["wall_s"])
    if ratios:
        print(f"\nDask / 2 local processes (each Dask run / the 2-process run before it): "
              f"{', '.join(f'{x:.3f}' for x in ratios)} (target <= 1.10)")
    peak = max(r["peak_rss_mb_any_process_so_far"] for _, r in runs)
    print(f"\n{len(samples)} maps, {mpx / len(samples):.1f} Mpx on average; summaries identical "
          f"across runs: {identical}; Rmi {first['rmi']:.6f}; peak RSS of the CLI process "
          f"{peak:.0f} MB (with 1 worker it scores every map itself)")
    fl = None
    if args.floor:
        load_before = os.getloadavg()[0]
        fl = floor(samples, 2)
        print(f"\nfloor on 2 processes (CPU seconds of all maps / 2; load average "
              f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}): decoding alone "
              f"{fl['decode_s']:.1f} s, metrics alone {fl['metrics_s']:.1f} s, both "
              f"{fl['both_s']:.1f} s (this pass took {fl['wall_s']:.1f} s wall); peak RSS of a "
              f"worker process {fl['peak_rss_mb_worker']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"floor": fl,
            "maps": len(samples), "mpx_mean": mpx / len(samples), "identical": identical,
            "peak_rss_mb": peak,
            "dask_over_2": ratios,
            "runs": [{"mode": m, "wall_s": r["wall_s"], "maps_per_s": len(samples) / r["wall_s"],
                      "load": r["load"]} for m, r in runs]}, indent=1))
    if not identical:
        raise SystemExit("summaries differ between runs")


if __name__ == "__main__":
    main()
