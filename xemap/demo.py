"""``xemap demo``: a tiny XeMap-Network learns the synthetic referring task on CPU.

Steps (all in one process, timed end to end):

1. make 600 synthetic training scenes of 64 px (all their queries: one-hop, multi-hop,
   multi-ref) and ``n_eval`` (200) held-out scenes with one query each, kinds in equal
   thirds, from another seed (:mod:`xemap.data.synthetic`; 4-7 objects of radius 7-11 % of
   the scene);
2. build ``XeMapConfig.demo()`` (pretrained MiniLM-L6 text encoder, small random Swin,
   two fusion layers) at 64 px with the ``"swin4"`` level layout (the four Swin stages,
   finest stride 4: at 64 px the default ``"gdino"`` layout's finest level is 8 x 8 and
   the maps stay blobs), trainable parts ``("image", "fusion")``: the random Swin has to
   learn colours and shapes, the pretrained text encoder stays frozen (and its features
   are cached per query, :class:`xemap.engine.text_cache.TextFeatureCache`);
3. score the untrained network on the held-out scenes with :func:`selo_metrics.evaluate`;
4. train it (:func:`xemap.engine.loop.train`, AdamW lr 1e-3, batch 16, the model's
   ``loss="balanced_l1"``: with targets covering ~3 % of a scene, plain L1 collapsed to the
   all-zero map in our runs)
   for whatever time is left of the budget after reserving the final scoring;
5. score it again, and once more with every query swapped for another held-out scene's
   query of the same kind (the ``shuffled`` control: a model that ignores the query scores
   the same there); write ``RUN_DIR/demo.json`` and print the table.

Scoring scale: the maps come out at the scene size (64 px) but the SeLo metrics' attention
stage uses 50 px box filters and a 1000 px maximum window, meant for 1k-10k px scenes. So each
map is upsampled (bilinear) to ``score_size`` (1024) px and the polygons are mapped to the
same pixel grid (``x' = (x + 0.5) * s - 0.5``) before scoring; every map and every polygon
get the same treatment, untrained or trained.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DemoSettings",
    "format_table",
    "make_demo_data",
    "register",
    "run",
    "run_demo",
    "score_model",
    "shuffle_queries",
    "summarize_scores",
]

METRICS = ("rmi", "rsu", "ras", "rda")


@dataclasses.dataclass
class DemoSettings:
    """Knobs of the demo; the defaults are what ``xemap demo`` runs."""

    minutes: float = 10.0
    seed: int = 0
    image_size: int = 64
    n_train: int = 600
    n_eval: int = 200
    score_size: int = 1024
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    trainable: tuple[str, ...] = ("image", "fusion")
    epochs: int = 50
    model: Any = "demo"
    level_layout: str = "swin4"
    reserve_seconds: float = 15.0
    loss: str = "balanced_l1"
    threads: int = 1
    scene: dict = dataclasses.field(
        default_factory=lambda: {"n_objects": (4, 7), "radius": (0.07, 0.11)}
    )


def make_demo_data(
    n_train: int, n_eval: int, *, seed: int = 0, size: int = 128, **scene: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training samples (all queries of ``n_train`` scenes) and held-out ones.

    Training scenes use seed ``2 * seed``, held-out scenes ``2 * seed + 1``, so they never
    coincide; held-out scene ``i`` has one query of kind ``KINDS[i % 3]``.

    Examples
    --------
    >>> tr, ev = make_demo_data(2, 3, size=64)
    >>> len(tr) >= 4, [s["kind"] for s in ev]
    (True, ['one-hop', 'multi-hop', 'multi-ref'])
    """
    from xemap.data.synthetic import make_scenes, samples

    train = samples(make_scenes(n_train, seed=2 * seed, size=size, **scene))
    held = samples(make_scenes(n_eval, seed=2 * seed + 1, size=size, balanced=True, **scene))
    return train, held


def score_maps(
    maps: Sequence[np.ndarray], samples: Sequence[dict[str, Any]], *, score_size: int = 1024
) -> list[dict[str, Any]]:
    """Score maps (float [0, 1], the scene's size) against their samples' polygons.

    Each map is upsampled to ``score_size`` (bilinear) and the polygons mapped to it
    (:func:`xemap.engine.evaluate.score_maps`). Returns one row per sample: ``id``,
    ``kind``, ``rsu``, ``ras``, ``rda``, ``rmi``.

    Examples
    --------
    >>> m = np.zeros((64, 64), np.float32); m[10:20, 10:20] = 1
    >>> s = {"id": "a", "kind": "one-hop", "polygons": [[[10, 10], [19, 10], [19, 19], [10, 19]]]}
    >>> row = score_maps([m], [s], score_size=512)[0]
    >>> row["rmi"] > 0.9
    True
    """
    from xemap.engine import evaluate

    acc = evaluate.score_maps(maps, samples, score_size=score_size)
    return [
        {"id": r.get("id"), "kind": r.get("kind"), **{m: r.get(m) for m in METRICS}}
        for r in acc.rows
    ]


def summarize_scores(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of the metrics, overall and per query kind.

    Examples
    --------
    >>> summarize_scores([{"kind": "a", "rsu": 1, "ras": 0, "rda": 1, "rmi": 1},
    ...                   {"kind": "b", "rsu": 0, "ras": 1, "rda": 0, "rmi": 0}])["rmi"]
    0.5
    """
    out: dict[str, Any] = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
    out["n"] = len(rows)
    kinds = sorted({r["kind"] for r in rows if r.get("kind")})
    out["per_kind"] = {
        k: {
            **{m: float(np.mean([r[m] for r in rows if r["kind"] == k])) for m in METRICS},
            "n": sum(r["kind"] == k for r in rows),
        }
        for k in kinds
    }
    return out


def shuffle_queries(samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The control set: each sample gets the query of the next sample of its kind.

    Polygons stay those of the sample, so a model that reads the query scores lower on it
    than on the real queries, and a model that ignores the query scores the same.

    Examples
    --------
    >>> s = [{"kind": k, "query": q} for k, q in [("a", "1"), ("b", "2"), ("a", "3")]]
    >>> [x["query"] for x in shuffle_queries(s)]
    ['3', '2', '1']
    """
    by_kind: dict[Any, list[int]] = {}
    for i, s in enumerate(samples):
        by_kind.setdefault(s.get("kind"), []).append(i)
    out = [dict(s) for s in samples]
    for idx in by_kind.values():
        for j, i in enumerate(idx):
            out[i]["query"] = samples[idx[(j + 1) % len(idx)]]["query"]
    return out


def score_model(
    model: Any, samples: Sequence[dict[str, Any]], *, score_size: int = 1024, batch_size: int = 32
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Predict every sample's map with ``model`` and score it: (summary, rows)."""
    from xemap.engine.predict import predict_maps

    model.eval()
    maps = predict_maps(
        model, [s["image"] for s in samples], [s["query"] for s in samples], batch_size=batch_size
    )
    rows = score_maps(maps, samples, score_size=score_size)
    return summarize_scores(rows), rows


def format_table(result: dict[str, Any]) -> str:
    """The demo's table: rows untrained / trained / shuffled (overall, then per kind).

    ``shuffled`` (when present) is the trained model given another scene's query of the
    same kind: the control that shows whether the map depends on the query.

    Examples
    --------
    >>> s = {"rmi": 0.5, "rsu": 0.5, "ras": 0.5, "rda": 0.5, "n": 2, "per_kind": {}}
    >>> print(format_table({"untrained": s, "trained": s}))  # doctest: +NORMALIZE_WHITESPACE
    model      kind        n    ↑Rmi    ↑Rsu    ↓Ras    ↑Rda
    untrained  all         2  0.5000  0.5000  0.5000  0.5000
    trained    all         2  0.5000  0.5000  0.5000  0.5000
    """
    head = (
        f"{'model':<10} {'kind':<10} {'n':>3}  {'↑Rmi':>6}  {'↑Rsu':>6}  {'↓Ras':>6}  {'↑Rda':>6}"
    )
    lines = [head]
    names = [k for k in ("untrained", "trained", "shuffled") if k in result]
    kinds = sorted({k for n in names for k in result[n].get("per_kind", {})})
    for kind in ["all", *kinds]:
        for n in names:
            s = result[n] if kind == "all" else result[n]["per_kind"].get(kind)
            if s is None:
                continue
            vals = "  ".join(f"{s[m]:6.4f}" for m in METRICS)
            lines.append(f"{n:<10} {kind:<10} {s['n']:>3}  {vals}")
    return "\n".join(lines)


def run_demo(
    out: str | Path,
    settings: DemoSettings | None = None,
    *,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run the demo into ``out`` (see the module docstring); return what ``demo.json`` holds.

    Torch runs on ``settings.threads`` threads (1 by default: on a busy 2-core machine two
    OpenMP threads made a training step 15-30x slower, see docs/xemap_training.md); the
    previous thread count is restored at the end.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        return _run_demo(out, settings, progress=progress, log=log)
    finally:
        torch.set_num_threads(threads)


def _run_demo(out: Any, settings: Any, *, progress: bool, log: Any) -> dict[str, Any]:
    import torch

    from xemap.engine.checkpoints import latest_checkpoint
    from xemap.engine.config import TrainConfig, build_model
    from xemap.engine.loop import train

    st = settings or DemoSettings()
    if latest_checkpoint(Path(out) / "train") is not None:
        raise ValueError(
            f"{Path(out) / 'train'} already holds a training run; choose a new --out or delete it"
        )
    t0 = time.perf_counter()
    if st.threads:
        torch.set_num_threads(st.threads)
    budget = st.minutes * 60.0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(st.seed)
    train_samples, held = make_demo_data(
        st.n_train, st.n_eval, seed=st.seed, size=st.image_size, **st.scene
    )
    t_data = time.perf_counter() - t0
    log(f"data: {len(train_samples)} training queries, {len(held)} held-out ({t_data:.1f} s)")
    spec = dict(st.model) if isinstance(st.model, dict) else {"preset": st.model}
    spec.update(image_size=st.image_size, level_layout=st.level_layout, loss=st.loss)
    model = build_model(spec, st.trainable)
    t_model = time.perf_counter() - t0
    counts = model.parameter_counts(trainable_only=True)
    log(
        f"model: {model.parameter_counts()['total']:,} parameters, trainable {st.trainable} "
        f"{counts['total']:,} ({t_model:.1f} s)"
    )

    t1 = time.perf_counter()
    untrained, _ = score_model(model, held, score_size=st.score_size)
    t_score = time.perf_counter() - t1
    log(f"untrained: Rmi {untrained['rmi']:.4f} ({t_score:.1f} s to score)")

    # after training: two more scoring passes (trained, shuffled control) and the saves
    left = budget - (time.perf_counter() - t0) - 2.2 * t_score - st.reserve_seconds
    if left <= 0:
        raise ValueError(f"no time left to train within {st.minutes} minutes")
    tcfg = TrainConfig(
        model=spec,
        out=str(out / "train"),
        epochs=st.epochs,
        batch_size=st.batch_size,
        lr=st.lr,
        weight_decay=st.weight_decay,
        trainable=list(st.trainable),
        seed=st.seed,
        device="cpu",
        max_seconds=left,
        log_every=10,
        cache_text="text" not in st.trainable,
        keep_last=1,
    )
    res = train(tcfg, resume=None, samples=train_samples, model=model, progress=progress)
    log(
        f"trained {res['steps']} steps, {res['epochs']} epoch(s) in {res['seconds']:.0f} s, "
        f"last loss {res['last_loss']:.4f} ({res['stopped']})"
    )
    trained, rows = score_model(model, held, score_size=st.score_size)
    log(f"trained: Rmi {trained['rmi']:.4f}")
    shuffled, _ = score_model(model, shuffle_queries(held), score_size=st.score_size)
    log(
        f"control, trained model with another scene's query of the same kind: "
        f"Rmi {shuffled['rmi']:.4f}"
    )
    seconds = time.perf_counter() - t0
    result = {
        "untrained": untrained,
        "trained": trained,
        "shuffled": shuffled,
        "gain_rmi": trained["rmi"] - untrained["rmi"],
        "config": {
            "demo": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(st).items()
            },
            "model": model.config.to_dict(),
        },
        "training": {k: res[k] for k in ("steps", "epochs", "last_loss", "stopped", "seconds")},
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        "trained_rows": rows,
    }
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    return result


def register(subparsers: Any) -> None:
    """Add ``xemap demo`` to the ``xemap`` command line."""
    d = DemoSettings()
    p = subparsers.add_parser(
        "demo",
        help="train a tiny XeMap-Network on a synthetic referring task, on CPU",
        description="Train a tiny XeMap-Network on a synthetic referring task, on CPU, and "
        "score it untrained, trained and with another scene's query (the control).",
    )
    p.add_argument("--out", required=True, help="run folder (demo.json, train/)")
    p.add_argument("--minutes", type=float, default=d.minutes, help="end-to-end time budget")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--n-train", type=int, default=d.n_train, help="training scenes")
    p.add_argument("--n-eval", type=int, default=d.n_eval, help="held-out scenes")
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--model", default=d.model, help="model preset (demo; tiny for a smoke test)")
    p.add_argument(
        "--threads", type=int, default=d.threads, help="torch threads (1: robust on a busy box)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``xemap demo`` from parsed arguments; return the exit status."""
    st = DemoSettings(
        minutes=args.minutes,
        seed=args.seed,
        n_train=args.n_train,
        n_eval=args.n_eval,
        image_size=args.image_size,
        batch_size=args.batch_size,
        lr=args.lr,
        model=args.model,
        threads=args.threads,
    )
    try:
        res = run_demo(
            args.out, st, progress=not args.quiet, log=lambda m: print(m, file=sys.stderr)
        )
    except ValueError as exc:
        print(f"xemap demo: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(res))
    print(
        f"Rmi gain {res['gain_rmi']:+.4f}; {res['seconds']:.0f} s end to end "
        f"({res['threads']} threads); {Path(args.out) / 'demo.json'}"
    )
    return 0
