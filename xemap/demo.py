"""``xemap demo``: XeMap-Network learns the synthetic referring task on CPU, with a control.

The XeMap-Network row of ``xemap bench`` (:mod:`xemap.bench`) on its default budget:

1. make the synthetic task (:mod:`xemap.data.synthetic`): ``n_train`` (600) training scenes
   of 64 px with all their queries (attribute, one-hop, multi-hop, multi-ref; every query
   has distractors that a model ignoring it would light as well) and ``n_eval`` (200)
   held-out scenes from another seed, one query each, the kinds in equal shares;
2. build the family's bench model (``xemap.bench.settings.FAMILY_DEFAULTS["xemap"]``);
3. score it untrained on the held-out scenes;
4. train it for a fixed number of optimizer steps (never a time budget: the same seed and
   steps give the same numbers on any machine load);
5. score it trained, and trained with another scene's query (the ``shuffled`` control: a
   model that ignores the query scores the same there).

Each scoring is a ``selo-metrics`` run directory under ``OUT/xemap/`` (``untrained``,
``trained``, ``shuffled``; ``selo-metrics compare`` reads them), the training run is
``OUT/xemap/train``; ``OUT/bench.json`` is the bench's record and ``OUT/demo.json`` holds the
three metric blocks under ``untrained``, ``trained`` and ``shuffled`` plus the gains.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DemoSettings", "format_table", "register", "run", "run_demo"]


@dataclasses.dataclass
class DemoSettings:
    """Knobs of the demo; None means the bench's default for XeMap-Network."""

    seed: int = 0
    n_train: int = 600
    n_eval: int = 200
    steps: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    image_size: int | None = None
    model: str | None = None
    trainable: tuple[str, ...] | None = None
    score_size: int = 1024
    threads: int = 1


def format_table(result: dict[str, Any]) -> str:
    """The demo's table: the bench table of the XeMap-Network row.

    Examples
    --------
    >>> b = {"rmi": 0.5, "rsu": 0.5, "ras": 0.5, "rda": 0.5, "n": 2, "per_kind": {}}
    >>> print(format_table({"untrained": b, "trained": b, "shuffled": b}).splitlines()[3])
    | xemap | all  | 2 | trained   | 0.5000 | 0.5000 | 0.5000 | 0.5000 | +0.0000 |
    """
    from xemap.bench.report import format_bench_table
    from xemap.bench.scoring import metric_keys

    return format_bench_table({"xemap": result}, metric_keys())


def run_demo(
    out: str | Path,
    settings: DemoSettings | None = None,
    *,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run the demo into ``out`` (see the module docstring); return what ``demo.json`` holds."""
    from xemap.bench.run import run_bench
    from xemap.bench.settings import BenchSettings

    st = settings or DemoSettings()
    out = Path(out)
    if (out / "demo.json").exists():
        raise ValueError(f"{out} already holds a demo (demo.json); choose a new --out")
    bench = BenchSettings(
        seed=st.seed,
        n_train=st.n_train,
        n_eval=st.n_eval,
        score_size=st.score_size,
        threads=st.threads,
    )
    res = run_bench(
        out,
        ["xemap"],
        bench,
        progress=progress,
        log=log,
        steps=st.steps,
        lr=st.lr,
        batch_size=st.batch_size,
        image_size=st.image_size,
        config=st.model,
        trainable=None if st.trainable is None else list(st.trainable),
    )
    row = res["models"]["xemap"]
    result = {
        "untrained": row["untrained"],
        "trained": row["trained"],
        "shuffled": row["shuffled"],
        "gain_rmi": row["trained"]["rmi"] - row["untrained"]["rmi"],
        "reading_gap_rmi": row["trained"]["rmi"] - row["shuffled"]["rmi"],
        "config": {
            "demo": dataclasses.asdict(st),
            "bench": res["settings"],
            "model": row["train"]["model_config"],
        },
        "training": {k: v for k, v in row["train"].items() if k != "model_config"},
        "seconds": res["settings"]["seconds"],
        "threads": res["settings"]["threads_used"],
    }
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    return result


def register(subparsers: Any) -> None:
    """Add ``xemap demo`` to the ``xemap`` command line."""
    d = DemoSettings()
    p = subparsers.add_parser(
        "demo",
        help="train a small XeMap-Network on a synthetic referring task, on CPU",
        description="Train a small XeMap-Network on the synthetic referring task, on CPU, for "
        "a fixed number of steps, and score it untrained, trained and trained with another "
        "scene's query (the control): the XeMap-Network row of 'xemap bench'.",
    )
    p.add_argument("--out", required=True, help="new run folder (demo.json, bench.json, xemap/)")
    p.add_argument("--seed", type=int, default=d.seed, help="seeds the task, weights, batches")
    p.add_argument("--steps", type=int, help="training steps (default: the bench's)")
    p.add_argument("--n-train", type=int, default=d.n_train, help="training scenes")
    p.add_argument("--n-eval", type=int, default=d.n_eval, help="held-out scenes")
    p.add_argument("--image-size", type=int, help="model input size (default: the bench's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the bench's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the bench's)")
    p.add_argument("--model", help="XeMapConfig preset (default: the bench's; tiny for a test)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no log lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``xemap demo`` from parsed arguments; return the exit status."""
    st = DemoSettings(
        seed=args.seed,
        n_train=args.n_train,
        n_eval=args.n_eval,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        image_size=args.image_size,
        model=args.model,
        threads=args.threads,
    )
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    try:
        res = run_demo(args.out, st, progress=not args.quiet, log=log)
    except ValueError as exc:
        print(f"xemap demo: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(res))
    print(
        f"Rmi gain {res['gain_rmi']:+.4f} over untrained, reading gap "
        f"{res['reading_gap_rmi']:+.4f} over the control; {res['seconds']:.0f} s end to end "
        f"({res['threads']} thread(s)); {Path(args.out) / 'demo.json'}"
    )
    return 0
