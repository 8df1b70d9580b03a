"""``python -m xemap.data.rrsis DATASET ROOT --out DIR``: write a data set's manifests.

Writes ``DIR/<dataset>_<split>.jsonl`` (for ``xemap train`` / ``xemap predict
--manifest``) and ``DIR/<dataset>_<split>.score.jsonl`` (for ``selo-metrics score``, the
maps being ``probmap_{idx}.png``), plus derived files under ``DIR/masks`` and
``DIR/images`` where needed. Exit status 2 with an ``error:`` line for unusable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .common import SIZE_RULES
from .folders import load_refsegrs, load_risbench
from .manifest import write_rrsis_manifests
from .rrsisd import GT_MODES, load_rrsisd

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m xemap.data.rrsis``."""
    p = argparse.ArgumentParser(
        prog="python -m xemap.data.rrsis", description=__doc__.split("\n")[0].split(": ", 1)[1]
    )
    p.add_argument("dataset", choices=["rrsisd", "refsegrs", "risbench"])
    p.add_argument("root", nargs="?", help="the data set folder (RRSIS-D: or --refs ...)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", required=True, help="folder for the manifests and derived files")
    p.add_argument(
        "--size-rule",
        default="resize",
        choices=SIZE_RULES,
        help="an image whose size differs from its annotation's: resized to it "
        "(default) or cropped / padded at the bottom right",
    )
    g = p.add_argument_group("RRSIS-D")
    g.add_argument(
        "--gt",
        default="polygons",
        choices=GT_MODES,
        help="polygons as they are (default), or REFER's masks (overlaps removed)",
    )
    g.add_argument("--refs", help="refs(unc).p (default: found under ROOT)")
    g.add_argument("--instances", help="instances.json (default: found under ROOT)")
    g.add_argument("--images", help="JPEGImages folder (default: found under ROOT)")
    g.add_argument("--splitby", default="unc", help="refs(<splitby>).p (default unc)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.dataset == "rrsisd":
            rows = load_rrsisd(
                args.root,
                split=args.split,
                refs=args.refs,
                instances=args.instances,
                images=args.images,
                out_dir=args.out,
                gt=args.gt,
                size_rule=args.size_rule,
                splitby=args.splitby,
            )
        else:
            if args.root is None:
                raise ValueError(f"{args.dataset} needs ROOT, the data set folder")
            load = load_refsegrs if args.dataset == "refsegrs" else load_risbench
            rows = load(args.root, split=args.split, out_dir=args.out, size_rule=args.size_rule)
        paths = write_rrsis_manifests(rows, args.out, f"{args.dataset}_{args.split}")
    except ValueError as exc:
        print(f"python -m xemap.data.rrsis: error: {exc}", file=sys.stderr)
        return 2
    fitted = sum(1 for r in rows if "image_size" in r)
    kinds = sum(1 for r in rows if r.get("polygons") is not None)
    fit = f"; {fitted} of them on images fitted to their annotation size ({args.size_rule})"
    print(
        f"{len(rows)} samples ({kinds} with polygons, {len(rows) - kinds} with masks"
        f"{fit if fitted else ''})\n"
        f"  {paths['manifest']}   (xemap train / xemap predict --manifest)\n"
        f"  {paths['score']}   (selo-metrics score, maps probmap_{{idx}}.png)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
