"""The ``xemap bench`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def _models(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--models needs at least one model family")
    return names


def _metrics(text: str) -> tuple[str, ...]:
    from xemap.bench.scoring import metric_keys

    names = tuple(m.strip() for m in text.split(",") if m.strip())
    try:
        metric_keys(names or ("",))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def register(subparsers: Any) -> None:
    """Add ``xemap bench`` to the ``xemap`` command line."""
    from xemap.bench.settings import BenchSettings

    d = BenchSettings()
    p = subparsers.add_parser(
        "bench",
        help="train models on the synthetic referring task; score untrained, trained, control",
        description="Train each named model family on the synthetic referring task for its "
        "step budget and score the held-out scenes untrained, trained, and trained with "
        "another scene's query (the control). Writes OUT/bench.json and one run directory "
        "per scoring; prints the table.",
    )
    from xemap.models.registry import list_models

    p.add_argument(
        "--models",
        type=_models,
        default=["xemap"],
        help=f"model families, comma-separated (known: {', '.join(list_models())})",
    )
    p.add_argument("--out", help="new folder for bench.json and the runs")
    p.add_argument(
        "--summarize",
        nargs="+",
        metavar="DIR",
        help="print mean, spread and worst seed of finished bench runs instead of running",
    )
    p.add_argument(
        "--summary-metric",
        default="rmi",
        metavar="KEY",
        help="the figure --summarize reads from each block: rmi (default), miou, oiou, prec@0.5...",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seeds the task, weights, batches")
    p.add_argument("--steps", type=int, help="training steps of every model (default: per family)")
    p.add_argument("--lr", type=float, help="learning rate of every model (default: per family)")
    p.add_argument("--batch-size", type=int, help="batch size of every model")
    p.add_argument("--image-size", type=int, help="model input size of every model")
    p.add_argument("--n-train", type=int, default=d.n_train, help="training scenes")
    p.add_argument("--n-eval", type=int, default=d.n_eval, help="held-out scenes")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads")
    p.add_argument("--workers", type=int, default=d.workers, help="scoring processes")
    p.add_argument(
        "--metrics",
        type=_metrics,
        default=d.metrics,
        help="metric families, comma-separated: selo, rrsis (default: both)",
    )
    p.add_argument(
        "--oracles",
        action="store_true",
        help="score reference maps instead of models (perfect, all objects, head type, flat)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, no log lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``xemap bench`` from parsed arguments; return the exit status."""
    from xemap.bench.report import format_bench_table
    from xemap.bench.run import run_bench
    from xemap.bench.scoring import metric_keys
    from xemap.bench.settings import BenchSettings

    st = BenchSettings(
        seed=args.seed,
        n_train=args.n_train,
        n_eval=args.n_eval,
        threads=args.threads,
        workers=args.workers,
        metrics=args.metrics,
    )
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    if args.summarize:
        return _summarize(args.summarize, args.summary_metric)
    if not args.out:
        print("xemap bench: error: --out is required (or --summarize DIR ...)", file=sys.stderr)
        return 2
    if args.oracles:
        return _oracles(args.out, st, log)
    try:
        res = run_bench(
            args.out,
            args.models,
            st,
            progress=not args.quiet,
            log=log,
            steps=args.steps,
            lr=args.lr,
            batch_size=args.batch_size,
            image_size=args.image_size,
        )
    except ValueError as exc:
        print(f"xemap bench: error: {exc}", file=sys.stderr)
        return 2
    print(format_bench_table(res["models"], metric_keys(st.metrics)))
    steps = ", ".join(f"{m} {r['train']['steps']}" for m, r in res["models"].items())
    print(f"training steps (batch, lr per family: bench.json): {steps}")
    print(f"{res['settings']['seconds']:.0f} s end to end; {Path(args.out) / 'bench.json'}")
    return 0


def _oracles(out: str, st: Any, log: Any) -> int:
    from xemap.bench.oracles import format_oracle_table, score_oracles
    from xemap.bench.scoring import metric_keys

    try:
        res = score_oracles(out, st, log=log)
    except ValueError as exc:
        print(f"xemap bench: error: {exc}", file=sys.stderr)
        return 2
    print(format_oracle_table(res["oracles"], metric_keys(st.metrics)))
    print(Path(out) / "oracles.json")
    return 0


def _summarize(dirs: list[str], key: str = "rmi") -> int:
    from xemap.bench.seeds import format_seeds_table, load_runs

    try:
        runs = load_runs(dirs)
        table = format_seeds_table(runs, key)
    except ValueError as exc:
        print(f"xemap bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"xemap bench: error: no {exc} in the bench runs' metric blocks", file=sys.stderr)
        return 2
    seeds = [r["settings"].get("seed") for r in runs]
    label = {"rmi": "Rmi", "miou": "mIoU", "oiou": "oIoU"}.get(key, key)
    print(f"{label} over {len(runs)} runs (seeds {seeds}); ± is the sample standard deviation")
    print(table)
    return 0
