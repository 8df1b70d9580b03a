"""`TrainConfig`: what ``xemap train`` reads from its JSON file, and the model it names.

No torch at import time. The format is documented in ``docs/xemap_training.md``::

    {"model": {"family": "xemap", "preset": "tiny", "image_size": 64},
     "train": ["data/manifest.jsonl"], "val": ["data/val.jsonl"], "out": "runs/tiny",
     "epochs": 2, "batch_size": 8, "lr": 0.001, "trainable": ["fusion"]}

``model`` is a dict ``{"family": NAME, "preset": PRESET, **config overrides}`` (``family``
defaults to ``"xemap"``, ``preset`` to the family's default config), a family name, or, as in
older configs, an XeMap-Network preset name (``"tiny"``, ``"demo"``, ``"default"``). A
top-level ``"loss"`` (older configs) is moved into the model config, where the family's
loss option lives.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrainConfig", "TrainConfigError", "build_model", "model_spec"]


class TrainConfigError(ValueError):
    """A training config that cannot be used; names the field."""


def model_spec(spec: Any) -> tuple[str, str | None, dict[str, Any]]:
    """``(family, preset, overrides)`` of a config's ``model`` entry.

    Examples
    --------
    >>> model_spec("tiny")
    ('xemap', 'tiny', {})
    >>> model_spec({"family": "xemap", "preset": "demo", "image_size": 64})
    ('xemap', 'demo', {'image_size': 64})
    >>> model_spec({"d_model": 64})
    ('xemap', None, {'d_model': 64})
    """
    from xemap.models.registry import list_models

    if isinstance(spec, str):
        if spec in list_models():
            return spec, None, {}
        return "xemap", spec, {}
    if not isinstance(spec, dict):
        raise TrainConfigError(f"model must be a preset name or an object, got {spec!r}")
    d = dict(spec)
    family = d.pop("family", "xemap")
    if family not in list_models():
        raise TrainConfigError(f"model: unknown family {family!r}; known: {list_models()}")
    preset = d.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise TrainConfigError(f"model: preset must be a name, got {preset!r}")
    return family, preset, d


def build_model(spec: Any, trainable: list[str] | tuple[str, ...] | None = None) -> Any:
    """Build the model a config's ``model`` entry names (`xemap.models.create_model`).

    Examples
    --------
    >>> m = build_model({"preset": "tiny", "image_size": 96}, ["fusion", "image"])
    >>> m.family, m.config.image_size, m.config.trainable
    ('xemap', 96, ('fusion', 'image'))
    """
    from xemap.models.registry import create_model

    family, preset, overrides = model_spec(spec)
    if trainable is not None:
        overrides["trainable"] = tuple(trainable)
    try:
        return create_model(family, preset, **overrides)
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f"model: {exc}") from exc


@dataclass
class TrainConfig:
    """What ``xemap train`` reads from its JSON config (see docs/xemap_training.md).

    Relative paths in a config file are relative to the file's folder.

    Examples
    --------
    >>> c = TrainConfig.from_dict({"model": "tiny", "train": ["m.jsonl"], "out": "run"})
    >>> c.epochs, c.batch_size, c.lr, c.weight_decay
    (1, 8, 0.001, 0.0001)
    >>> TrainConfig.from_dict({"model": "tiny", "loss": "balanced_l1"}).model
    {'preset': 'tiny', 'loss': 'balanced_l1'}
    """

    model: Any = "default"
    train: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
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
    checkpoint_every: int | None = None
    log_every: int = 1
    val_every: int = 1
    val_score_size: int | None = None
    cache_text: bool = False
    keep_last: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, root: str | Path | None = None) -> TrainConfig:
        """Build from a dict; unknown keys and wrong types raise `TrainConfigError`."""
        if not isinstance(data, dict):
            raise TrainConfigError(f"a training config is a JSON object, got {type(data)}")
        d = dict(data)
        if "loss" in d:  # older configs: the loss is the model family's option now
            loss = d.pop("loss")
            spec = d.get("model", "default")
            spec = {"preset": spec} if isinstance(spec, str) else dict(spec)
            d["model"] = {**spec, "loss": loss}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TrainConfigError(
                f"unknown training config keys {unknown}; known: {sorted(known)}"
            )
        for key in ("train", "val"):
            if isinstance(d.get(key), str):
                d[key] = [d[key]]
        cfg = cls(**d)
        if root is not None:
            r = Path(root)
            if isinstance(cfg.train, list):
                cfg.train = [str(r / p) for p in cfg.train]
            if isinstance(cfg.val, list):
                cfg.val = [str(r / p) for p in cfg.val]
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
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TrainConfigError(f"{p}: not valid JSON: {exc}") from exc
        return cls.from_dict(data, root=p.parent)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise `TrainConfigError` naming the first bad field."""
        for name in ("epochs", "batch_size", "log_every", "val_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise TrainConfigError(f"{name} must be an int >= 1, got {v!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise TrainConfigError(f"num_workers must be an int >= 0, got {self.num_workers!r}")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or v < 0 or (name == "lr" and v == 0):
                raise TrainConfigError(f"{name} must be a positive number, got {v!r}")
        for name in ("train", "val"):
            v = getattr(self, name)
            if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
                raise TrainConfigError(f"{name} must be a list of manifest paths, got {v!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise TrainConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        for name in ("keep_last", "max_steps", "checkpoint_every", "val_score_size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise TrainConfigError(f"{name} must be an int >= 1 or null, got {v!r}")
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, int | float) and self.max_seconds > 0
        ):
            raise TrainConfigError(f"max_seconds must be > 0 or null, got {self.max_seconds!r}")
        if self.trainable is not None and (
            not isinstance(self.trainable, list | tuple)
            or not all(isinstance(p, str) for p in self.trainable)
        ):
            raise TrainConfigError(
                f"trainable must be a list of part names, got {self.trainable!r}"
            )
        model_spec(self.model)
