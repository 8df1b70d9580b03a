"""The training loop: any registered family, its own loss, one optimizer step per batch.

AdamW (``lr``, ``weight_decay``) over the trainable parameters only; on CUDA the loss runs
under ``torch.autocast`` (float16) with a ``GradScaler``, elsewhere in float32. Under
``torchrun`` the loss module is wrapped in ``DistributedDataParallel``
(`xemap.engine.distributed`) and only rank 0 writes. Every epoch ends with a checkpoint
(`xemap.engine.checkpoints`); ``checkpoint_every`` adds some inside epochs. A run restarted
on the same ``out`` resumes from the latest checkpoint, inside an epoch if need be, and
continues bit for bit as the uninterrupted run would have (same batches, RNG, optimizer and
log). The final model goes to ``OUT/model``; ``OUT/train_log.jsonl`` is described in
`xemap.engine.train_log`.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xemap.engine import checkpoints as ck
from xemap.engine.config import TrainConfig, TrainConfigError, build_model
from xemap.engine.data import device_batch, epoch_batches, make_dataset, make_loader
from xemap.engine.distributed import any_rank, barrier, setup, teardown, wrap
from xemap.engine.text_cache import install_text_cache
from xemap.engine.train_log import TrainLog

__all__ = ["train"]


def train(
    cfg: TrainConfig,
    *,
    resume: str | None = "auto",
    samples: Sequence[dict[str, Any]] | None = None,
    val_samples: Sequence[dict[str, Any]] | None = None,
    model: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume) as ``cfg`` says; return a summary dict.

    Parameters
    ----------
    cfg : TrainConfig
    resume : {"auto", None} or str
        ``"auto"``: continue from the latest checkpoint in ``cfg.out`` if there is one; a
        path: that checkpoint folder; None: start afresh (an existing checkpoint in ``cfg.out``
        is then an error, so nothing is overwritten by accident).
    samples, val_samples : sequence of dict, optional
        In-memory samples used instead of the ``train`` / ``val`` manifests.
    model : ReferringModel, optional
        A model to train instead of building one from ``cfg.model`` (ignored on resume).
    progress : bool
        Show the tqdm bar (stderr, rank 0 only).

    Returns
    -------
    dict
        ``out``, ``epochs`` (the last epoch run), ``steps``, ``last_loss``, ``stopped``
        (``"epochs"``, ``"max_steps"`` or ``"max_seconds"``), ``seconds``, ``model_dir``,
        ``resumed_from``, ``family``.
    """
    cfg.validate()
    ctx = setup(cfg.device)
    try:
        return _train(cfg, ctx, resume, samples, val_samples, model, progress)
    finally:
        teardown(ctx)


def _checkpoint_to_resume(out: Path, resume: str | None) -> dict[str, Any] | None:
    if resume == "auto":
        latest = ck.latest_checkpoint(out)
        return None if latest is None else ck.checkpoint_meta(latest)
    if resume:
        meta = ck.checkpoint_meta(resume)
        if meta is None:
            raise TrainConfigError(f"resume: {resume} is not a checkpoint (model/ + state.pt)")
        return meta
    if ck.latest_checkpoint(out) is not None:
        raise TrainConfigError(
            f"{out} already holds checkpoints; resume from them or choose another out"
        )
    return None


def _model(cfg: TrainConfig, meta: dict[str, Any] | None, model: Any) -> Any:
    from xemap.models.registry import load_pretrained

    if meta is not None:
        model = load_pretrained(meta["path"] / "model", map_location="cpu")
        model.set_trainable(cfg.trainable if cfg.trainable is not None else model.config.trainable)
    elif model is None and cfg.init:
        model = load_pretrained(cfg.init, map_location="cpu")
        if cfg.trainable is not None:
            model.set_trainable(cfg.trainable)
    elif model is None:
        model = build_model(cfg.model, cfg.trainable)
    elif cfg.trainable is not None:
        model.set_trainable(cfg.trainable)
    return model


def _samples(paths: list[str], given: Any, what: str) -> list[dict[str, Any]]:
    from xemap.data.datasets import read_manifest

    if given is not None:
        return list(given)
    return [s for m in paths for s in read_manifest(m)]


def _train(cfg, ctx, resume, samples, val_samples, model, progress) -> dict[str, Any]:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    out, device = Path(cfg.out), ctx.device
    meta = _checkpoint_to_resume(out, resume)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)  # noqa: NPY002 - seeds third-party code using it
    torch.manual_seed(cfg.seed)
    model = _model(cfg, meta, model).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainConfigError(f"no trainable parameters (trainable={model.config.trainable})")
    samples = _samples(cfg.train, samples, "train")
    if not samples:
        raise TrainConfigError("the training set is empty (no train manifest or samples)")
    val_samples = _samples(cfg.val, val_samples, "val")
    dataset = make_dataset(samples, model, grid_sizes=cfg.grid_sizes, sigma=cfg.sigma)

    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = bool(cfg.amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, skip, step, epoch_losses = 1, 0, 0, []
    if meta is not None:
        state = torch.load(meta["path"] / ck.STATE, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        step = int(meta["step"])
        if meta.get("epoch_complete", True) or meta.get("epoch_step") is None:
            start_epoch = int(meta["epoch"]) + 1
        else:
            start_epoch, skip = int(meta["epoch"]), int(meta["epoch_step"])
            epoch_losses = list(state.get("epoch_losses", []))
        ck.set_rng_state(state["rng"])
    cache = install_text_cache(model) if cfg.cache_text else None
    net = wrap(model, ctx)

    log = TrainLog(out / "train_log.jsonl", enabled=ctx.is_main)
    if ctx.is_main:
        import json

        out.mkdir(parents=True, exist_ok=True)
        ck.clean_partial(out)
        log.start(step)
        (out / "train_config.json").write_text(
            json.dumps(
                {**cfg.to_dict(), "family": model.family, "model_config": model.config.to_dict()},
                indent=2,
            )
        )
    if meta is not None:
        log.write(
            {"event": "resume", "from": str(meta["path"]), "epoch": start_epoch, "step": step}
        )

    def save(epoch: int, epoch_step: int, complete: bool) -> None:
        if ctx.is_main:
            state = {
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": ck.rng_state(),
                "epoch_losses": list(epoch_losses),
                "train_config": cfg.to_dict(),
            }
            info = {"epoch": epoch, "step": step, "epoch_step": epoch_step}
            ck.save_checkpoint(out, model, state, {**info, "epoch_complete": complete})
            if cfg.keep_last is not None:
                ck.prune_checkpoints(out, cfg.keep_last)
        barrier(ctx)

    stopped, last_loss, epoch = "epochs", float("nan"), start_epoch - 1
    if cfg.max_steps is not None and step >= cfg.max_steps:
        stopped, start_epoch = "max_steps", cfg.epochs + 1
    for epoch in range(start_epoch, cfg.epochs + 1):
        batches = epoch_batches(
            len(dataset),
            cfg.batch_size,
            seed=cfg.seed,
            epoch=epoch,
            rank=ctx.rank,
            world=ctx.world,
        )
        first = skip if epoch == start_epoch else 0
        if first == 0:
            epoch_losses = []
        loader = make_loader(
            dataset,
            model,
            batches[first:],
            num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
            seed=cfg.seed * 1000003 + epoch,
        )
        net.train()
        bar = tqdm(
            loader,
            total=len(batches),
            initial=first,
            desc=f"epoch {epoch}/{cfg.epochs}",
            disable=not (progress and ctx.is_main),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        epoch_step = first
        for raw in bar:
            batch = device_batch(raw, model, device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                loss = net(batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss.float()).backward()
            scaler.step(optimizer)
            scaler.update()
            step, epoch_step = step + 1, epoch_step + 1
            last_loss = float(loss.detach())
            epoch_losses.append(last_loss)
            bar.set_postfix(loss=f"{last_loss:.4f}")
            if step % cfg.log_every == 0:
                seconds = round(time.perf_counter() - t0, 3)
                log.write(
                    {
                        "epoch": epoch,
                        "step": step,
                        "loss": last_loss,
                        "lr": cfg.lr,
                        "seconds": seconds,
                    }
                )
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stopped = "max_steps"
            elif cfg.max_seconds is not None and any_rank(
                time.perf_counter() - t0 >= cfg.max_seconds, ctx
            ):
                stopped = "max_seconds"
            if stopped != "epochs":
                break
            if (
                cfg.checkpoint_every
                and step % cfg.checkpoint_every == 0
                and (epoch_step < len(batches))
            ):
                save(epoch, epoch_step, False)
        bar.close()
        complete = epoch_step == len(batches)
        log.write(
            {
                "event": "epoch",
                "epoch": epoch,
                "step": step,
                "complete": complete,
                "loss": float(np.mean(epoch_losses)) if epoch_losses else None,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if val_samples and complete and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
            _validate(model, val_samples, cfg, ctx, log, epoch, step)
        save(epoch, epoch_step, complete)
        if stopped != "epochs":
            break
    if cache is not None:
        cache.remove()
    model_dir = out / "model"
    if ctx.is_main:
        ck.atomic_dir(model_dir, model.save_pretrained)
    barrier(ctx)
    return {
        "out": str(out),
        "family": model.family,
        "epochs": epoch,
        "steps": step,
        "last_loss": last_loss,
        "stopped": stopped,
        "seconds": time.perf_counter() - t0,
        "model_dir": str(model_dir),
        "resumed_from": str(meta["path"]) if meta is not None else None,
    }


def _validate(model, samples, cfg, ctx, log, epoch: int, step: int) -> None:
    """Every rank scores its share of the validation set; rank 0 logs the gathered means."""
    from xemap.engine.evaluate import validate

    rec = validate(
        model,
        samples,
        batch_size=cfg.batch_size,
        score_size=cfg.val_score_size,
        rank=ctx.rank,
        world=ctx.world,
    )
    if ctx.is_main:
        log.write({"event": "val", "epoch": epoch, "step": step, **rec})
    barrier(ctx)
