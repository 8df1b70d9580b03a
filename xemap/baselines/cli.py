"""``xemap selo``: SeLo, SeLo v2 and CLIP-SeLo maps for an AIR-SLT-format annotation file.

For every entry ``idx`` of ``--anno`` (a JSON list of ``{"caption", "jpg_name", "points"}``)
the scene ``--images/<jpg_name>`` is scored with the CLIP model in ``--model`` and the map
is written to ``--out/probmap_{idx}.png`` (8-bit gray, lossless), which
``selo-metrics score ANNO OUT`` reads directly. Per-sample stage times (Cut, Sim, Gnt, Flt,
as in the SeLo paper's Table VI) go to ``--out/timings.jsonl`` and their sums are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["register", "run"]


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.replace("_", ",").split(",") if t)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from exc


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``selo`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "selo",
        help="SeLo / SeLo v2 / CLIP-SeLo baseline maps",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    p.add_argument("--version", type=int, choices=(1, 2), required=True, help="SeLo version")
    p.add_argument("--model", required=True, help="local CLIP model directory (save_pretrained)")
    p.add_argument("--anno", required=True, help="AIR-SLT-format anno.json")
    p.add_argument("--images", required=True, help="folder of the scenes (jpg_name)")
    p.add_argument("--out", required=True, help="folder for probmap_{idx}.png")
    p.add_argument("--scales", type=_ints, default=(256, 512, 768), help="v1 tile sizes")
    p.add_argument("--median", type=int, default=251, help="v1 median window (odd)")
    p.add_argument("--top", type=float, default=0.15, help="v2 fraction of tiles kept")
    p.add_argument("--tile", type=int, default=512, help="v2 tile size")
    p.add_argument("--half-sizes", type=_ints, default=(64, 128), help="v2 anchor half sizes")
    p.add_argument("--ksize", type=int, default=255, help="v2 Gaussian window (odd)")
    p.add_argument("--seed", type=int, default=0, help="seed of the v2 word shuffles")
    p.add_argument("--batch-size", type=int, default=64, help="boxes per forward pass")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--limit", type=int, default=None, help="only the first N entries")
    p.add_argument("--threads", type=int, default=None, help="filter threads")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write one map per annotation entry; return the exit status."""
    from PIL import Image

    from .scorers import CLIPScorer
    from .selo import SeLoBaselineError, selo_map, selo_v2_map

    try:
        entries = json.loads(Path(args.anno).read_text(encoding="utf8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"xemap selo: cannot read {args.anno}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(entries, list):
        print(f"xemap selo: {args.anno} is not a JSON list of entries", file=sys.stderr)
        return 2
    if args.limit is not None:
        entries = entries[: args.limit]
    try:
        clip = CLIPScorer.from_pretrained(args.model, device=args.device)
    except (OSError, ValueError) as exc:
        print(f"xemap selo: cannot load the model in {args.model}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    totals = {"cut": 0.0, "sim": 0.0, "gnt": 0.0, "flt": 0.0}
    with open(out / "timings.jsonl", "w", encoding="utf8") as log:
        for idx, item in enumerate(entries):
            path = Path(args.images) / item["jpg_name"]
            try:
                Image.MAX_IMAGE_PIXELS = None  # 10k x 10k scenes are the point
                with Image.open(path) as im:
                    image = np.asarray(im.convert("RGB"))
            except OSError as exc:
                print(f"xemap selo: entry {idx}: cannot read {path}: {exc}", file=sys.stderr)
                return 2
            t0 = time.perf_counter()
            scorer = clip.scorer(
                image,
                item["caption"],
                version=args.version,
                seed=args.seed,
                batch_size=args.batch_size,
            )
            t_text = time.perf_counter() - t0
            timings: dict = {}
            h, w = image.shape[:2]
            try:
                if args.version == 1:
                    m = selo_map(
                        h,
                        w,
                        scorer,
                        scales=args.scales,
                        median=args.median,
                        threads=args.threads,
                        timings=timings,
                    )
                else:
                    m = selo_v2_map(
                        h,
                        w,
                        scorer,
                        top=args.top,
                        tile=args.tile,
                        half_sizes=args.half_sizes,
                        ksize=args.ksize,
                        threads=args.threads,
                        timings=timings,
                    )
            except SeLoBaselineError as exc:
                print(f"xemap selo: entry {idx} ({path.name}): {exc}", file=sys.stderr)
                return 2
            Image.fromarray(m).save(out / f"probmap_{idx}.png")
            # the scorer's own split of the scoring time: cropping vs embedding
            row = {
                "idx": idx,
                "jpg_name": item["jpg_name"],
                "cut": timings["cut"] + scorer.timings["cut"],
                "sim": t_text + scorer.timings["sim"],
                "gnt": timings["gnt"],
                "flt": timings["flt"],
            }
            for k in totals:
                totals[k] += row[k]
            log.write(json.dumps(row) + "\n")
    print(f"wrote {len(entries)} maps to {out}")
    print(
        "Time-Cut: {cut:.4f}s  Time-Sim: {sim:.4f}s  Time-Gnt: {gnt:.4f}s  "
        "Time-Flt: {flt:.4f}s".format(**totals)
    )
    return 0
