"""The ``selo-metrics`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .data import SYNTHETIC_KINDS, load_air_slt, scene_size, synthetic_map
from .errors import SeLoInputError
from .metrics import evaluate
from .report import format_table, summarize

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    anno = load_air_slt()
    if args.limit is not None:
        anno = anno[: args.limit]
    scenes = {item["jpg_name"] for item in anno}
    print(
        f"selo-metrics demo: the {len(anno)} AIR-SLT queries ({len(scenes)} scenes), each "
        "scored on deterministic SYNTHETIC maps\n(no model, no scene image: the maps are "
        "drawn around the bundled polygons; convention "
        f"{args.convention!r})\n",
        file=sys.stderr,
    )
    t_start = time.perf_counter()
    summaries = []
    for kind in args.kinds:
        rows = []
        for idx, item in enumerate(anno):
            shape = scene_size(anno, item["jpg_name"])
            gray = synthetic_map(shape, item["points"], kind=kind, seed=idx)
            t0 = time.perf_counter()
            try:
                res = evaluate(gray, item["points"], convention=args.convention, sample_id=idx)
            except SeLoInputError as exc:
                rows.append({"error": f"{type(exc).__name__}: {exc}"})
                continue
            row = res.to_dict()
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
        summaries.append((kind, summarize(rows)))
    print(format_table(summaries))
    print()
    for kind in args.kinds:
        print(f"{kind}: {SYNTHETIC_KINDS[kind]}")
    print(f"\n{time.perf_counter() - t_start:.1f} s in all (map generation included; "
          "s/map is the metrics alone)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``selo-metrics``."""
    parser = argparse.ArgumentParser(
        prog="selo-metrics",
        description="Exact, fast SeLo metrics (Rsu, Ras, Rda, Rmi) for semantic localization.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="score synthetic maps drawn around the bundled AIR-SLT polygons (no download)",
    )
    demo.add_argument("--kinds", nargs="+", default=list(SYNTHETIC_KINDS),
                      choices=list(SYNTHETIC_KINDS), help="synthetic models to score")
    demo.add_argument("--limit", type=int, default=None, help="first N queries only")
    demo.add_argument("--convention", choices=["slm", "paper"], default="slm")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``selo-metrics`` with ``argv`` (default: the process arguments)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
