"""``xemap bench``: train each named model on the synthetic task, score it three ways.

For every model family named (any of ``xemap.models.list_models()``), on the same task:

1. build the model (`xemap.models.create_model`, the family's bench settings of
   :mod:`xemap.bench.settings`) with the torch seed set;
2. score it untrained on the held-out scenes;
3. train it for the family's step budget (the engine's ``train``; checkpoints and the
   loss log in ``DIR/<model>/train``);
4. score it trained, and trained with another scene's query (the control,
   :func:`xemap.bench.scoring.control_pairing`): a model that ignores the query scores the
   same on both.

Each scoring is an ordinary run directory, ``DIR/<model>/{untrained,trained,shuffled}``
(:func:`xemap.bench.scoring.score_run`). ``DIR/bench.json`` holds
``{"models": {name: {"untrained": M, "trained": M, "shuffled": M, "train": {...}}},
"settings": {...}}`` with ``M = {"rmi", "rsu", "ras", "rda", "n", "per_kind": {kind: {the
same keys}}}``. Nothing already in ``DIR`` is overwritten: a model folder that exists is
refused before anything runs, and so is an existing ``bench.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xemap.bench.scoring import control_samples, metric_block, metric_keys, score_run
from xemap.bench.settings import BenchSettings, family_settings

__all__ = ["SCORING_DIRS", "bench_task", "run_bench", "train_and_score"]

#: bench.json key -> folder of the scoring under DIR/<model>/
SCORING_DIRS = {"untrained": "untrained", "trained": "trained", "shuffled": "shuffled"}


def bench_task(settings: BenchSettings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training samples (all queries of ``n_train`` scenes) and the held-out ones.

    Training scenes use seed ``2 * seed``, held-out scenes ``2 * seed + 1``, so they never
    coincide; held-out scene ``i`` has one query of kind ``KINDS[i % len(KINDS)]``. Each
    sample carries ``scene`` (its scene's index), which the control's pairing reads.

    Examples
    --------
    >>> tr, ev = bench_task(BenchSettings(n_train=2, n_eval=4))
    >>> len(tr) >= 2, [s["kind"] for s in ev], [s["scene"] for s in ev]
    (True, ['attribute', 'one-hop', 'multi-hop', 'multi-ref'], [0, 1, 2, 3])
    """
    from xemap.data.synthetic import make_scenes, samples

    st = settings
    kw = {"size": st.scene_size, **st.scene}
    out = []
    for scenes in (
        make_scenes(st.n_train, seed=2 * st.seed, **kw),
        make_scenes(st.n_eval, seed=2 * st.seed + 1, balanced=True, **kw),
    ):
        out.append([{**s, "scene": sc.index} for sc in scenes for s in samples([sc])])
    return out[0], out[1]


def _check_models(models: Sequence[str], out: Path) -> None:
    from xemap.models.registry import list_models

    known = list_models()
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"unknown model families {unknown}; known: {known}")
    if len(set(models)) != len(models):
        raise ValueError(f"a model is named twice: {list(models)}")
    for p in [out / "bench.json", *(out / m for m in models)]:
        if p.exists():
            raise ValueError(f"{p} already exists; choose a new --out (nothing is overwritten)")


def _predict(model: Any, samples: Sequence[dict[str, Any]], batch_size: int = 32) -> list:
    from xemap.engine.predict import predict_maps

    model.eval()
    return predict_maps(
        model, [s["image"] for s in samples], [s["query"] for s in samples], batch_size=batch_size
    )


def _train(
    model: Any,
    samples: list[dict[str, Any]],
    fam: dict[str, Any],
    seed: int,
    out: Path,
    progress: bool,
) -> dict[str, Any]:
    import math

    from xemap.engine.config import TrainConfig
    from xemap.engine.loop import train

    steps, batch = int(fam["steps"]), int(fam["batch_size"])
    cfg = TrainConfig(
        model={"family": model.family, **model.config.to_dict()},
        out=str(out),
        epochs=max(1, math.ceil(steps / math.ceil(len(samples) / batch))),
        batch_size=batch,
        lr=float(fam["lr"]),
        weight_decay=float(fam["weight_decay"]),
        trainable=list(model.config.trainable),
        seed=seed,
        device="cpu",
        max_steps=steps,
        log_every=10,
        cache_text=True,
        keep_last=1,
    )
    res = train(cfg, resume=None, samples=samples, model=model, progress=progress)
    return {k: res[k] for k in ("steps", "epochs", "last_loss", "seconds")}


def train_and_score(
    name: str,
    train_samples: list[dict[str, Any]],
    held: list[dict[str, Any]],
    settings: BenchSettings,
    out: str | Path,
    *,
    progress: bool = False,
    log: Callable[[str], Any] = print,
    **overrides: Any,
) -> dict[str, Any]:
    """One model's bench entry: ``{"untrained", "trained", "shuffled", "train"}``.

    ``overrides`` change the family's bench settings (`family_settings`).
    """
    import torch

    from xemap.models.registry import create_model

    out = Path(out)
    fam = family_settings(name, **overrides)
    keys = metric_keys(settings.metrics)
    control = control_samples(held)
    torch.manual_seed(settings.seed)
    cfg_over = {**fam["overrides"], "image_size": int(fam["image_size"])}
    if fam["trainable"] is not None:
        cfg_over["trainable"] = tuple(fam["trainable"])
    model = create_model(name, fam["config"], **cfg_over)
    counts = model.parameter_counts()
    trainable = model.parameter_counts(trainable_only=True)["total"]
    log(f"{name}: {counts['total']:,} parameters, {trainable:,} trainable {model.config.trainable}")
    result: dict[str, Any] = {}
    timing: dict[str, float] = {}

    def score(key: str, samples: list[dict[str, Any]]) -> None:
        t = time.perf_counter()
        summary = score_run(
            _predict(model, samples),
            samples,
            out / SCORING_DIRS[key],
            score_size=settings.score_size,
            workers=settings.workers,
            metrics=settings.metrics,
            source={"model": name, "scoring": key},
        )
        result[key] = metric_block(summary, keys)
        timing[f"score_{key}"] = time.perf_counter() - t
        log(f"{name} {key}: Rmi {result[key]['rmi']:.4f} ({timing[f'score_{key}']:.1f} s)")

    score("untrained", held)
    tr = _train(model, train_samples, fam, settings.seed, out / "train", progress)
    log(f"{name}: trained {tr['steps']} steps in {tr['seconds']:.0f} s, loss {tr['last_loss']:.4f}")
    score("trained", held)
    score("shuffled", control)
    result["train"] = {
        **tr,
        "settings": fam,
        "model_config": model.config.to_dict(),
        "parameters": counts["total"],
        "trainable_parameters": trainable,
        "seconds_scoring": timing,
    }
    return {k: result[k] for k in ("untrained", "trained", "shuffled", "train")}


def run_bench(
    out: str | Path,
    models: Sequence[str] = ("xemap",),
    settings: BenchSettings | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], Any] = print,
    **overrides: Any,
) -> dict[str, Any]:
    """Run the bench into ``out`` (see the module docstring); return what bench.json holds.

    Torch runs on ``settings.threads`` threads; the previous count is restored at the end.
    ``overrides`` (``steps``, ``lr``, ``batch_size``, ``image_size``...) apply to every model.
    """
    import torch

    st = settings or BenchSettings()
    out = Path(out)
    _check_models(models, out)
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    try:
        if st.threads:
            torch.set_num_threads(st.threads)
        train_samples, held = bench_task(st)
        log(f"task: {len(train_samples)} training queries, {len(held)} held-out scenes")
        result = {"models": {}, "settings": st.to_dict()}
        for name in models:
            result["models"][name] = train_and_score(
                name,
                train_samples,
                held,
                st,
                out / name,
                progress=progress,
                log=log,
                **overrides,
            )
        result["settings"]["threads_used"] = torch.get_num_threads()
        result["settings"]["seconds"] = time.perf_counter() - t0
        (out / "bench.json").write_text(json.dumps(result, indent=2))
        return result
    finally:
        torch.set_num_threads(threads)
