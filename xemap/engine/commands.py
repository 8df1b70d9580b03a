"""The ``xemap train`` and ``xemap predict`` command lines (argparse), on the engine.

``xemap predict`` imports only the inference side (`xemap.engine.predict`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["register_predict", "register_train", "run_predict", "run_train"]

TRAIN_HELP = "train any registered model family from a JSON config"
TRAIN_DESCRIPTION = """\
Train a referring model (any registered family) from a JSON training config.

The config names the model family and preset, the training manifests, the output
folder and the optimisation settings (docs/xemap_training.md), for example:

  {"model": {"family": "xemap", "preset": "tiny"},
   "train": ["data/manifest.jsonl"], "out": "runs/tiny", "epochs": 2}

Each epoch ends with a checkpoint in OUT/checkpoints; running the same command again
resumes from the latest one. The final model is written to OUT/model and the loss log to
OUT/train_log.jsonl. Under torchrun it trains with DistributedDataParallel."""

PREDICT_HELP = "write one correlation map per query (probmap_{idx}.png)"
PREDICT_DESCRIPTION = """\
Write one correlation map per query, OUT/probmap_{idx}.png, at the image's size.

MODEL_DIR is a saved model folder (config.json + model.safetensors), a training
checkpoint or a training OUT folder; the model family is read from its config.json.
Queries come from an AIR-SLT annotation file (--anno with --images) or a manifest
(--manifest). Existing maps are never overwritten unless --overwrite is given. The time of
every query is written to OUT/predict_times.json.

Example:
  xemap predict runs/tiny/model --anno anno.json --images images/ --out maps/
  selo-metrics score anno.json maps/ --out scores/"""


def register_train(subparsers: Any) -> None:
    """Add ``xemap train`` to the ``xemap`` command line."""
    p = subparsers.add_parser(
        "train",
        help=TRAIN_HELP,
        description=TRAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="JSON training config (docs/xemap_training.md)")
    p.add_argument("--out", help="override the config's out folder")
    p.add_argument("--epochs", type=int, help="override the number of epochs")
    p.add_argument("--max-steps", type=int, help="override the step budget (max_steps)")
    p.add_argument("--device", help="override the device (auto, cpu, cuda, cuda:N)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--resume",
        default="auto",
        metavar="CKPT",
        help="a checkpoint folder to resume from (default: the latest in OUT, if any)",
    )
    g.add_argument("--no-resume", action="store_true", help="refuse to resume (fresh run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run ``xemap train`` from parsed arguments; return the exit status."""
    from xemap.engine.config import TrainConfig
    from xemap.engine.loop import train

    try:
        cfg = TrainConfig.from_json_file(args.config)
        for key in ("out", "epochs", "max_steps", "device"):
            if getattr(args, key) is not None:
                setattr(cfg, key, getattr(args, key))
        cfg.validate()
        res = train(cfg, resume=None if args.no_resume else args.resume, progress=not args.quiet)
    except ValueError as exc:
        print(f"xemap train: error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(res, indent=2))
    return 0


def register_predict(subparsers: Any) -> None:
    """Add ``xemap predict`` to the ``xemap`` command line."""
    p = subparsers.add_parser(
        "predict",
        help=PREDICT_HELP,
        description=PREDICT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model_dir", nargs="?", metavar="MODEL_DIR", help="saved model or training OUT")
    p.add_argument("--model", dest="model_opt", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--anno", help="AIR-SLT annotation JSON (caption, jpg_name, points)")
    src.add_argument("--manifest", help="JSON / JSONL manifest instead of --anno")
    p.add_argument("--images", help="folder of the annotation's jpg_name images")
    p.add_argument("--out", required=True, help="folder for probmap_{idx}.png")
    p.add_argument("--batch-size", type=int, default=8, help="queries per forward (default 8)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda:N")
    p.add_argument("--tiles", action="store_true", help="overlapping tiles instead of resize")
    p.add_argument("--tile-size", type=int, default=None, help="default: the model input size")
    p.add_argument("--overlap", type=int, default=None, help="default: tile size // 4")
    p.add_argument("--overwrite", action="store_true", help="replace existing probmaps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Run ``xemap predict`` from parsed arguments; return the exit status."""
    from xemap.engine.predict import check_outputs, load_model, read_entries, write_probmaps

    try:
        if (args.model_dir is None) == (args.model_opt is None):
            raise ValueError("give the model folder once: xemap predict MODEL_DIR ...")
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        entries = read_entries(args.anno, args.images, args.manifest)
        check_outputs(len(entries), args.out, overwrite=args.overwrite)
        model = load_model(args.model_dir or args.model_opt, args.device)
        s = write_probmaps(
            model,
            entries,
            args.out,
            batch_size=args.batch_size,
            tiles=args.tiles,
            tile_size=args.tile_size,
            overlap=args.overlap,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except ValueError as exc:
        print(f"xemap predict: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{s['n_queries']} maps -> {args.out} ({s['mode']}, {s['device']}, batch "
        f"{s['batch_size']}): {s['mean_seconds_per_query'] * 1000:.1f} ms/query mean, "
        f"{s['median_seconds_per_query'] * 1000:.1f} median, "
        f"{s['p90_seconds_per_query'] * 1000:.1f} p90, total {s['total_seconds']:.2f} s"
        if s["n_queries"]
        else "no queries"
    )
    return 0
