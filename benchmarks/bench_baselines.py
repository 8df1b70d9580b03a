"""SeLo / SeLo v2 map generation: this package against the official code, side by side.

The official generators (``generate_selo.py`` / ``generate_selo_v2.py`` of the
SemanticLocalizationMetrics repository, MIT licence, in ``--ref-dir``) need the authors'
retrieval models, so what is timed here is their map-making part, copied below verbatim
from those files (each copied statement is checked to be in the file, read by path):
stacking every box's score on a float64 map, the per-pixel Python division loop, min-max,
``np.uint8(255 * x)``, then ``cv2.medianBlur(probmap, 251)`` (v1) or
``cv2.GaussianBlur(probmap, (255, 255), 0, 0)`` (v2). The scorer is the same random one
for both sides (a model's time is its own business; Sim is reported for completeness).

The per-pixel loop is far too slow for a 10000 x 10000 scene: it is timed on a
``--loop-size`` square of the same map and extrapolated per pixel (said so in the output).
Everything else of the official side runs on the whole scene.

    python benchmarks/bench_baselines.py --size 10000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from xemap.baselines import selo

HERE = Path(__file__).resolve().parent
DEFAULT_REF = HERE.parents[1] / "shared" / "reference" / "slm"

# --- copied from generate_selo.py / generate_selo_v2.py (MIT), checked against the files ---
V1_LINES = [
    "heat_map[int(r_start):int(r_end), int(c_start):int(c_end)] += sim_results[idx]",
    "heat_map[i,j] = heat_map[i,j] / heat_num[i,j]",
    "probmap = np.uint8(255 * probmap)",
    "probmap = cv2.medianBlur(probmap,251)",
]
V2_LINES = [
    "if(heat_num[i,j]!=0.0):",
    "probmap = cv2.GaussianBlur(probmap, (255, 255), 0, 0)",
]


def official_stack(shape, boxes, scores):
    heat_map = np.zeros(shape, dtype=float)
    heat_num = np.zeros(shape, dtype=float)
    for idx, (r_start, r_end, c_start, c_end) in enumerate(boxes.tolist()):
        heat_map[int(r_start) : int(r_end), int(c_start) : int(c_end)] += scores[idx]
        heat_num[int(r_start) : int(r_end), int(c_start) : int(c_end)] += 1
    return heat_map, heat_num


def official_loop_v1(heat_map, heat_num):
    for i in range(np.shape(heat_map)[0]):
        for j in range(np.shape(heat_map)[1]):
            heat_map[i, j] = heat_map[i, j] / heat_num[i, j]


def official_loop_v2(heat_map, heat_num):
    for i in range(np.shape(heat_map)[0]):
        for j in range(np.shape(heat_map)[1]):
            if heat_num[i, j] != 0.0:
                heat_map[i, j] = heat_map[i, j] / heat_num[i, j]


def official_normalise(heat_map):
    adaptive = np.asarray(heat_map)
    adaptive = adaptive - np.min(adaptive)
    probmap = adaptive / np.max(adaptive)
    return np.uint8(255 * probmap)


# ---------------------------------------------------------------------------------------


def check_reference(ref_dir: Path) -> bool:
    v1, v2 = ref_dir / "generate_selo.py", ref_dir / "generate_selo_v2.py"
    if not (v1.exists() and v2.exists()):
        return False
    t1, t2 = v1.read_text(encoding="utf8"), v2.read_text(encoding="utf8")
    missing = [s for s in V1_LINES if s not in t1] + [s for s in V2_LINES if s not in t2]
    if missing:
        raise SystemExit(f"the official code in {ref_dir} differs from the copy: {missing}")
    return True


class Recorder:
    """Random scores, remembered so the official side stacks the same boxes and scores."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.calls = []

    def __call__(self, boxes):
        s = self.rng.normal(size=len(boxes)) * 0.1 + 0.2
        self.calls.append((boxes.copy(), s))
        return s


def agreement(a, b):
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return 100.0 * float((d == 0).mean()), int(d.max())


def fmt(t):
    return f"{t:9.3f}s"


def run(args) -> int:
    import cv2

    cv2.setNumThreads(args.threads)
    n = args.size
    have_ref = check_reference(Path(args.ref_dir))
    if not have_ref:
        print(f"official code not found in {args.ref_dir}: official side skipped")
    print(f"scene {n} x {n}, threads {args.threads}, numba warm unless said cold")
    # cold: first call in this process (numba kernels loaded from the on-disk cache)
    t = {}
    t0 = time.perf_counter()
    selo.selo_map(600, 700, Recorder(0), scales=(256,), threads=args.threads, timings=t)
    selo.selo_v2_map(600, 700, Recorder(0), threads=args.threads)
    print(f"cold first calls (600 x 700, v1 + v2, JIT cache load): {time.perf_counter() - t0:.3f}s")

    for version in (1, 2):
        rec = Recorder(version)
        best = None
        for _ in range(args.repeat):
            rec.calls.clear()
            t = {}
            if version == 1:
                ours = selo.selo_map(n, n, rec, threads=args.threads, timings=t)
            else:
                ours = selo.selo_v2_map(n, n, rec, threads=args.threads, timings=t)
            if best is None or t["gnt"] + t["flt"] < best["gnt"] + best["flt"]:
                best = t
        print(f"\nSeLo v{version}   (ours, best of {args.repeat})")
        print(f"  Cut (boxes)          {fmt(best['cut'])}")
        print(f"  Sim (random scorer)  {fmt(best['sim'])}")
        print(f"  Gnt (stack + norm)   {fmt(best['gnt'])}")
        print(f"  Flt (filter)         {fmt(best['flt'])}")
        ours_total = best["gnt"] + best["flt"]
        print(f"  Gnt + Flt            {fmt(ours_total)}")
        if not have_ref:
            continue
        if version == 1:
            ((boxes, scores),) = rec.calls
            loop = official_loop_v1
        else:
            (tiles, s1), (boxes2, s2) = rec.calls
            keep = np.argsort(s1)[-(int(len(s1) * 0.15) + 1) :]
            boxes = np.concatenate([tiles[keep], boxes2])
            scores = np.concatenate([s1[keep], s2])
            loop = official_loop_v2
        t0 = time.perf_counter()
        heat_map, heat_num = official_stack((n, n), boxes, scores)
        t_stack = time.perf_counter() - t0
        m = min(args.loop_size, n)
        sub_map, sub_num = heat_map[:m, :m].copy(), heat_num[:m, :m].copy()
        t0 = time.perf_counter()
        loop(sub_map, sub_num)
        t_loop = (time.perf_counter() - t0) * (n * n) / (m * m)
        covered = heat_num != 0.0
        heat_map[covered] /= heat_num[covered]  # the loop's result, element-wise
        del heat_num, covered
        t0 = time.perf_counter()
        probmap = official_normalise(heat_map)
        t_norm = time.perf_counter() - t0
        del heat_map
        t0 = time.perf_counter()
        if version == 1:
            official = cv2.medianBlur(probmap, 251)
        else:
            official = cv2.GaussianBlur(probmap, (255, 255), 0, 0)
        t_filter = time.perf_counter() - t0
        off_total = t_stack + t_loop + t_norm + t_filter
        name = "cv2.medianBlur 251" if version == 1 else "cv2.GaussianBlur 255"
        print(f"SeLo v{version}   (official code)")
        print(f"  stacking (+= per box)        {fmt(t_stack)}")
        print(f"  per-pixel loop (from {m} x {m}, extrapolated) {fmt(t_loop)}")
        print(f"  min-max + uint8              {fmt(t_norm)}")
        print(f"  {name:28s} {fmt(t_filter)}")
        print(f"  total                        {fmt(off_total)}")
        same, dmax = agreement(ours, official)
        print(f"  identical pixels {same:.4f} %, max difference {dmax}")
        print(f"  speed-up (official total / ours Gnt + Flt): {off_total / ours_total:.0f}x")
        print(f"  speed-up of the filter alone: {t_filter / best['flt']:.1f}x")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=10000, help="scene side (default 10000)")
    p.add_argument("--loop-size", type=int, default=1000, help="side of the timed loop square")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--ref-dir", default=str(DEFAULT_REF), help="official code directory")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
