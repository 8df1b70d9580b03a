"""``xemap train CONFIG``: train an XeMap-Network on MCMG targets.

The loss is the L1 distance between the network's map ``(B, H, W)`` in [0, 1] and the MCMG
target / 255 at the model input size; AdamW (lr 1e-3, weight decay 1e-4 by default) over
the trainable parameters only (the fusion layers by default, as in the paper). On CUDA the
forward runs under ``torch.autocast`` (float16) with a ``GradScaler``; elsewhere in float32.
Launched by ``torchrun`` (``WORLD_SIZE > 1``) it runs torch's ``DistributedDataParallel``
with a ``DistributedSampler``; only rank 0 writes checkpoints and logs.

Every epoch ends with a checkpoint ``OUT/checkpoints/epoch_{n}`` (``model/`` from
``save_pretrained`` plus ``state.pt``: optimizer, scaler, epoch, step, RNG states), written to
a temporary folder and renamed, so a kill never leaves half a checkpoint. A run restarted
with the same ``out`` resumes from the latest checkpoint (``--resume auto``, the default;
``--resume PATH`` picks one; ``--no-resume`` refuses to run over an existing one). The final
model is also written to ``OUT/model``. ``OUT/train_log.jsonl`` gets one line per logged step
(``epoch``, ``step``, ``loss``, ``lr``, ``seconds``) and one per epoch (``"event": "epoch"``).
The training config format is documented in ``docs/xemap_training.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TextFeatureCache",
    "TrainConfig",
    "TrainConfigError",
    "build_model_config",
    "latest_checkpoint",
    "map_loss",
    "register",
    "run",
    "train",
]


#: training losses: "l1" (the paper) and "balanced_l1" (see :func:`map_loss`)
LOSSES = ("l1", "balanced_l1")


class TrainConfigError(ValueError):
    """A training config that cannot be used; names the field."""


@dataclass
class TrainConfig:
    """What ``xemap train`` reads from its JSON config (see docs/xemap_training.md).

    Relative paths in a config file are relative to the file's folder.

    Examples
    --------
    >>> c = TrainConfig.from_dict({"model": "tiny", "train": ["m.jsonl"], "out": "run"})
    >>> c.epochs, c.batch_size, c.lr, c.weight_decay
    (1, 8, 0.001, 0.0001)
    """

    model: Any = "default"
    train: list[str] = field(default_factory=list)
    out: str = "run"
    epochs: int = 1
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    trainable: list[str] | None = None
    num_workers: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    grid_sizes: list[int] | None = None
    sigma: float | None = None
    init: str | None = None
    max_steps: int | None = None
    max_seconds: float | None = None
    log_every: int = 1
    loss: str = "l1"
    cache_text: bool = False
    keep_last: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, root: str | Path | None = None) -> TrainConfig:
        """Build from a dict; unknown keys and wrong types raise :class:`TrainConfigError`."""
        if not isinstance(data, dict):
            raise TrainConfigError(f"a training config is a JSON object, got {type(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainConfigError(
                f"unknown training config keys {unknown}; known: {sorted(known)}"
            )
        d = dict(data)
        if isinstance(d.get("train"), str):
            d["train"] = [d["train"]]
        cfg = cls(**d)
        if root is not None:
            r = Path(root)
            cfg.train = [str(r / p) for p in cfg.train]
            cfg.out = str(r / cfg.out)
            if cfg.init:
                cfg.init = str(r / cfg.init)
        cfg.validate()
        return cfg

    @classmethod
    def from_json_file(cls, path: str | Path) -> TrainConfig:
        """Read a JSON training config (paths relative to its folder)."""
        p = Path(path)
        if not p.is_file():
            raise TrainConfigError(f"training config {p} does not exist")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise TrainConfigError(f"{p}: not valid JSON: {exc}") from exc
        return cls.from_dict(data, root=p.parent)

    def validate(self) -> None:
        """Raise :class:`TrainConfigError` naming the first bad field."""
        for name in ("epochs", "batch_size", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise TrainConfigError(f"num_workers must be an int >= 0, got {self.num_workers!r}")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or (name == "lr" and v == 0):
                raise TrainConfigError(f"{name} must be a positive number, got {v!r}")
        if not isinstance(self.train, list) or not all(isinstance(p, str) for p in self.train):
            raise TrainConfigError(f"train must be a list of manifest paths, got {self.train!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise TrainConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.loss not in LOSSES:
            raise TrainConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.keep_last is not None and (
            not isinstance(self.keep_last, int) or self.keep_last < 1
        ):
            raise TrainConfigError(f"keep_last must be an int >= 1 or null, got {self.keep_last!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainConfigError(f"max_steps must be >= 1, got {self.max_steps}")


def build_model_config(spec: Any, trainable: Sequence[str] | None = None):
    """An :class:`~xemap.config.XeMapConfig` from a preset name or a dict.

    ``spec`` is ``"tiny"``, ``"demo"``, ``"default"`` (the paper's network), a dict of
    config fields (``XeMapConfig.from_dict``), or a dict ``{"preset": NAME, **overrides}``.

    Examples
    --------
    >>> build_model_config({"preset": "tiny", "image_size": 96}, ["fusion", "image"]).trainable
    ('fusion', 'image')
    """
    from xemap.config import XeMapConfig

    presets = {"tiny": XeMapConfig.tiny, "demo": XeMapConfig.demo, "default": XeMapConfig}
    try:
        if isinstance(spec, str):
            if spec not in presets:
                raise TrainConfigError(
                    f"model preset must be one of {sorted(presets)}, got {spec!r}"
                )
            cfg = presets[spec]()
        elif isinstance(spec, dict):
            d = dict(spec)
            preset = d.pop("preset", None)
            if preset is not None:
                if preset not in presets:
                    raise TrainConfigError(
                        f"model preset must be one of {sorted(presets)}, got {preset!r}"
                    )
                cfg = presets[preset](**d)
            else:
                cfg = XeMapConfig.from_dict(d)
        else:
            raise TrainConfigError(f"model must be a preset name or a dict, got {spec!r}")
    except TrainConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f"model: {exc}") from exc
    if trainable is not None:
        cfg = dataclasses.replace(cfg, trainable=tuple(trainable))
    return cfg


def latest_checkpoint(out: str | Path) -> Path | None:
    """The ``OUT/checkpoints/epoch_{n}`` with the largest complete ``n``, or None.

    Examples
    --------
    >>> import tempfile
    >>> latest_checkpoint(tempfile.mkdtemp()) is None
    True
    """
    d = Path(out) / "checkpoints"
    if not d.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for p in d.iterdir():
        if p.is_dir() and p.name.startswith("epoch_") and (p / "state.pt").is_file():
            try:
                n = int(p.name[len("epoch_") :])
            except ValueError:
                continue
            if best is None or n > best[0]:
                best = (n, p)
    return None if best is None else best[1]


def _tokenize(tokenizer: Any, max_len: int, queries: list[str]) -> dict[str, Any]:
    enc = tokenizer(
        list(queries), padding="longest", truncation=True, max_length=max_len, return_tensors="pt"
    )
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def normalise(images: Any, config: Any) -> Any:
    """uint8 ``(B, H, W, 3)`` tensor -> float ``(B, 3, H, W)`` normalised with the config's
    ``image_mean`` / ``image_std`` (what ``model.preprocess`` does, minus the resize).

    Examples
    --------
    >>> import torch
    >>> from xemap.config import XeMapConfig
    >>> normalise(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), XeMapConfig.tiny()).shape
    torch.Size([2, 3, 8, 8])
    """
    import torch

    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(config.image_mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(config.image_std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def map_loss(maps: Any, target: Any, kind: str = "l1") -> Any:
    """The training loss between maps and targets ``(B, H, W)`` in [0, 1].

    ``"l1"``: the mean absolute difference (the paper's loss). ``"balanced_l1"``: per
    sample, half the weight on the target's mass and half on its complement,
    ``0.5 * sum(t |p - t|) / sum(t) + 0.5 * sum((1 - t) |p - t|) / sum(1 - t)``, averaged
    over the batch; with small targets (a few percent of the image) plain L1 is minimised
    by an all-zero map early in training, which this weighting prevents.

    Examples
    --------
    >>> import torch
    >>> t = torch.zeros(1, 4, 4); t[0, 0, 0] = 1.0
    >>> zero = torch.zeros(1, 4, 4)
    >>> float(map_loss(zero, t)), float(map_loss(zero, t, "balanced_l1"))
    (0.0625, 0.5)
    """
    import torch

    err = (maps - target).abs()
    if kind == "l1":
        return err.mean()
    if kind != "balanced_l1":
        raise TrainConfigError(f"loss must be one of {LOSSES}, got {kind!r}")
    dims = tuple(range(1, err.dim()))
    fg = (target * err).sum(dims) / target.sum(dims).clamp_min(1e-6)
    bg = ((1 - target) * err).sum(dims) / (1 - target).sum(dims).clamp_min(1e-6)
    return torch.mean(0.5 * fg + 0.5 * bg)


class TextFeatureCache:
    """Memoise a frozen text encoder's per-token features by query (training speed-up).

    Installed on ``model.text_encoder`` as an instance ``forward`` (the module tree and
    the saved weights are untouched; :meth:`remove` restores it). A query's features are
    computed once, stored for its real tokens only, and re-padded with zeros: padding
    positions are masked everywhere downstream, so the network's output is unchanged (the
    tests check it). Only valid while the text encoder is frozen and in eval mode; it passes
    through when any of its parameters requires grad. At most ``max_entries`` queries are
    stored (later ones are computed each time).
    """

    def __init__(self, encoder: Any, max_entries: int = 50_000) -> None:
        self.encoder = encoder
        self.max_entries = max_entries
        self.cache: dict[bytes, Any] = {}
        self.hits = 0
        self.misses = 0
        self._orig = encoder.forward
        encoder.forward = self

    def remove(self) -> None:
        """Restore the encoder's own forward and drop the cache."""
        if self.encoder.__dict__.get("forward") is self:
            del self.encoder.forward
        self.cache.clear()

    def __call__(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        import torch

        enc = self.encoder
        if enc.training or any(p.requires_grad for p in enc.parameters()):
            return self._orig(input_ids, attention_mask, token_type_ids)
        lengths = attention_mask.sum(1).tolist()
        keys = [
            input_ids[i, : int(n)].cpu().numpy().tobytes()
            + (
                b""
                if token_type_ids is None
                else token_type_ids[i, : int(n)].cpu().numpy().tobytes()
            )
            for i, n in enumerate(lengths)
        ]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        fresh = {}
        if missing:
            self.misses += len(missing)
            with torch.no_grad():
                out = self._orig(
                    input_ids[missing],
                    attention_mask[missing],
                    None if token_type_ids is None else token_type_ids[missing],
                )
            for j, i in enumerate(missing):
                feats = out[j, : int(lengths[i])].detach()
                fresh[keys[i]] = feats
                if len(self.cache) < self.max_entries:
                    self.cache[keys[i]] = feats
        self.hits += len(keys) - len(missing)
        rows = [fresh.get(k, self.cache.get(k)) for k in keys]
        result = rows[0].new_zeros((len(keys), input_ids.shape[1], rows[0].shape[-1]))
        for i, r in enumerate(rows):
            result[i, : r.shape[0]] = r
        return result


def _rng_state() -> dict[str, Any]:
    import torch

    st = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the legacy global state is saved
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    import torch

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])  # noqa: NPY002
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _atomic_dir(final: Path, write) -> None:
    """Write a folder through ``write(tmp)`` then rename it to ``final`` (replacing it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp_{final.name}_{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write(tmp)
    if final.exists():
        old = final.parent / f".old_{final.name}_{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``epoch_{n}`` checkpoints."""
    ckpts = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith("epoch_") and p.name[6:].isdigit():
            ckpts.append((int(p.name[6:]), p))
    for _, p in sorted(ckpts)[:-keep]:
        shutil.rmtree(p, ignore_errors=True)


def _resolve_device(name: str, local_rank: int):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainConfigError(f"device {name!r} asked for but CUDA is not available")
    return torch.device(name)


def train(
    cfg: TrainConfig,
    *,
    resume: str | None = "auto",
    samples: Sequence[dict[str, Any]] | None = None,
    model: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume) as ``cfg`` says; return a summary dict.

    Parameters
    ----------
    cfg : TrainConfig
    resume : {"auto", None} or str
        ``"auto"``: continue from the latest checkpoint in ``cfg.out`` if there is one;
        a path: that checkpoint folder; None: start afresh (an existing checkpoint in
        ``cfg.out`` is then an error, so nothing is overwritten by accident).
    samples : sequence of dict, optional
        In-memory samples used instead of the manifests (``image`` may be an array).
    model : XeMapNetwork, optional
        A network to train instead of building one from ``cfg.model`` (ignored on resume).
    progress : bool
        Show the tqdm bar (stderr, rank 0 only).

    Returns
    -------
    dict
        ``out``, ``epochs`` (completed), ``steps``, ``last_loss``, ``stopped`` (why it ended:
        ``"epochs"``, ``"max_steps"`` or ``"max_seconds"``), ``seconds``, ``model_dir``.
    """
    import torch
    import torch.distributed as dist
    from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
    from tqdm.auto import tqdm

    from xemap.data.datasets import Collator, XeMapDataset, read_manifest
    from xemap.data.mcmg import DEFAULT_GRID_SIZES
    from xemap.models.network import XeMapNetwork

    t0 = time.perf_counter()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world > 1
    rank, local_rank = 0, 0
    if distributed:
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(cfg.device, local_rank)
    if distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    out = Path(cfg.out)
    main = rank == 0

    ckpt: Path | None = None
    if resume == "auto":
        ckpt = latest_checkpoint(out)
    elif resume:
        ckpt = Path(resume)
        if not (ckpt / "state.pt").is_file() or not (ckpt / "model").is_dir():
            raise TrainConfigError(f"resume: {ckpt} is not a checkpoint (model/ + state.pt)")
    elif latest_checkpoint(out) is not None:
        raise TrainConfigError(
            f"{out} already holds checkpoints; resume from them or choose another out"
        )

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)  # noqa: NPY002 - seeds third-party code using it
    torch.manual_seed(cfg.seed)
    if ckpt is not None:
        model = XeMapNetwork.from_pretrained(ckpt / "model", map_location="cpu")
        trainable = tuple(cfg.trainable) if cfg.trainable is not None else model.config.trainable
        model.set_trainable(trainable)
    elif model is None:
        if cfg.init:
            model = XeMapNetwork.from_pretrained(cfg.init, map_location="cpu")
            if cfg.trainable is not None:
                model.set_trainable(cfg.trainable)
        else:
            model = XeMapNetwork(build_model_config(cfg.model, cfg.trainable))
    elif cfg.trainable is not None:
        model.set_trainable(cfg.trainable)
    model.to(device)
    mcfg = model.config
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainConfigError(f"no trainable parameters (trainable={mcfg.trainable})")

    if samples is None:
        if not cfg.train:
            raise TrainConfigError("train: no manifest given")
        samples = [s for m in cfg.train for s in read_manifest(m)]
    if not samples:
        raise TrainConfigError("the training set is empty")
    dataset = XeMapDataset(
        samples,
        image_size=mcfg.image_size,
        grid_sizes=cfg.grid_sizes or DEFAULT_GRID_SIZES,
        sigma=cfg.sigma,
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    sampler = (
        DistributedSampler(dataset, shuffle=True, seed=cfg.seed)
        if distributed
        else RandomSampler(dataset, generator=gen)
    )
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        collate_fn=Collator(partial(_tokenize, model.tokenizer, mcfg.max_text_len)),
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.num_workers > 0,
    )

    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = bool(cfg.amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, step = 1, 0
    if ckpt is not None:
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
        _set_rng_state(state["rng"])
    text_cache = None
    if cfg.cache_text and "text" not in mcfg.trainable:
        text_cache = TextFeatureCache(model.text_encoder)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    log_path = out / "train_log.jsonl"
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(
            json.dumps({**dataclasses.asdict(cfg), "model_config": mcfg.to_dict()}, indent=2)
        )

    def log(rec: dict[str, Any]) -> None:
        if main:
            with log_path.open("a") as f:
                f.write(json.dumps(rec) + "\n")

    stopped, last_loss, epoch = "epochs", float("nan"), start_epoch - 1
    if main and ckpt is not None:
        log({"event": "resume", "from": str(ckpt), "epoch": start_epoch, "step": step})
    for epoch in range(start_epoch, cfg.epochs + 1):
        net.train()
        if distributed:
            sampler.set_epoch(epoch)
        else:
            gen.manual_seed(cfg.seed * 1000003 + epoch)
        bar = tqdm(
            loader,
            desc=f"epoch {epoch}/{cfg.epochs}",
            disable=not (progress and main),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        losses = []
        for batch in bar:
            pixel = normalise(batch["image"].to(device, non_blocking=True), mcfg)
            target = batch["target"].to(device, non_blocking=True)
            ids = batch["input_ids"].to(device)
            mask = batch["attention_mask"].to(device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                maps = net(pixel, ids, mask)
            loss = map_loss(maps.float(), target, cfg.loss)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            last_loss = float(loss.detach())
            losses.append(last_loss)
            bar.set_postfix(loss=f"{last_loss:.4f}")
            if step % cfg.log_every == 0:
                log(
                    {
                        "epoch": epoch,
                        "step": step,
                        "loss": last_loss,
                        "lr": cfg.lr,
                        "seconds": round(time.perf_counter() - t0, 3),
                    }
                )
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stopped = "max_steps"
                break
            if cfg.max_seconds is not None:
                over = time.perf_counter() - t0 >= cfg.max_seconds
                if distributed:  # every rank stops at the same step, or DDP deadlocks
                    flag = torch.tensor([float(over)], device=device)
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    over = bool(flag.item())
                if over:
                    stopped = "max_seconds"
                    break
        bar.close()
        complete = stopped == "epochs"
        log(
            {
                "event": "epoch",
                "epoch": epoch,
                "step": step,
                "complete": complete,
                "loss": float(np.mean(losses)) if losses else None,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if main:
            state = {
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "step": step,
                "complete": complete,
                "rng": _rng_state(),
                "train_config": dataclasses.asdict(cfg),
            }

            def write(tmp: Path, state=state) -> None:
                model.save_pretrained(tmp / "model")
                torch.save(state, tmp / "state.pt")

            _atomic_dir(out / "checkpoints" / f"epoch_{epoch}", write)
            if cfg.keep_last is not None:
                _prune_checkpoints(out / "checkpoints", cfg.keep_last)
        if distributed:
            dist.barrier()
        if not complete:
            break
    if text_cache is not None:
        text_cache.remove()
    model_dir = out / "model"
    if main:
        _atomic_dir(model_dir, lambda tmp: model.save_pretrained(tmp))
    if distributed:
        dist.barrier()
    return {
        "out": str(out),
        "epochs": epoch,
        "steps": step,
        "last_loss": last_loss,
        "stopped": stopped,
        "seconds": time.perf_counter() - t0,
        "model_dir": str(model_dir),
        "resumed_from": str(ckpt) if ckpt is not None else None,
    }


def register(subparsers: Any) -> None:
    """Add ``xemap train`` to the ``xemap`` command line."""
    p = subparsers.add_parser(
        "train",
        help="train an XeMap-Network from a JSON config",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("config", help="JSON training config (docs/xemap_training.md)")
    p.add_argument("--out", help="override the config's out folder")
    p.add_argument("--epochs", type=int, help="override the number of epochs")
    p.add_argument("--device", help="override the device (auto, cpu, cuda, cuda:N)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--resume",
        default="auto",
        metavar="CKPT",
        help="a checkpoint folder to resume from; default 'auto' = the latest in OUT",
    )
    g.add_argument("--no-resume", action="store_true", help="refuse to resume (fresh run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``xemap train`` from parsed arguments; return the exit status."""
    try:
        cfg = TrainConfig.from_json_file(args.config)
        if args.out:
            cfg.out = args.out
        if args.epochs:
            cfg.epochs = args.epochs
        if args.device:
            cfg.device = args.device
        cfg.validate()
        res = train(cfg, resume=None if args.no_resume else args.resume, progress=not args.quiet)
    except ValueError as exc:
        print(f"xemap train: error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(res, indent=2))
    return 0
