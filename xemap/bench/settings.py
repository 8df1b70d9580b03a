"""What ``xemap bench`` runs: the task and scoring settings, and each family's training budget.

`BenchSettings` holds what every model shares (the synthetic task, the held-out set, the
scoring); `FAMILY_DEFAULTS` holds, per model family, what it trains with on the bench: the
config preset and overrides, the trainable parts, the step budget, learning rate, batch size
and input size, chosen so that the family learns the task on CPU. A family without an entry
gets `GENERIC_DEFAULTS` (its ``tiny`` preset). Budgets are in optimizer steps, never in
seconds: the same seed and steps give the same numbers on any machine load.

This module imports neither torch nor the models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["FAMILY_DEFAULTS", "GENERIC_DEFAULTS", "BenchSettings", "family_settings"]

#: training settings of a family with no entry in FAMILY_DEFAULTS
GENERIC_DEFAULTS: dict[str, Any] = {
    "config": "tiny",
    "overrides": {},
    "trainable": None,
    "steps": 300,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 16,
    "image_size": 64,
}

#: per family: config preset, config overrides, trainable parts, steps, lr, batch, input size
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "xemap": {
        "config": "demo",
        "overrides": {
            "level_layout": "swin4",
            "loss": "balanced_l1",
            "fusion_text_trainable": False,
        },
        "trainable": ["image", "fusion"],
        "steps": 1000,
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 16,
        "image_size": 64,
    },
    "crobim": {
        "config": "demo",
        "overrides": {},
        "trainable": ["image", "fusion", "head"],
        "steps": 400,
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "batch_size": 16,
        "image_size": 64,
    },
    "s4eca": {
        "config": "demo",
        "overrides": {"adapter_init_scale": 1.0},
        "trainable": ["adapters", "decoder"],
        "steps": 600,
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "batch_size": 16,
        "image_size": 64,
    },
}


def family_settings(family: str, **overrides: Any) -> dict[str, Any]:
    """A family's bench training settings: `GENERIC_DEFAULTS`, its `FAMILY_DEFAULTS` entry,
    then ``overrides`` (None values are ignored).

    Examples
    --------
    >>> s = family_settings("xemap", steps=20)
    >>> s["config"], s["steps"], s["image_size"]
    ('demo', 20, 64)
    >>> family_settings("no-such-family")["config"]
    'tiny'
    """
    out = {**GENERIC_DEFAULTS, **FAMILY_DEFAULTS.get(family, {})}
    unknown = sorted(set(overrides) - set(out))
    if unknown:
        raise ValueError(f"unknown bench settings {unknown}; known: {sorted(out)}")
    out.update({k: v for k, v in overrides.items() if v is not None})
    out["overrides"] = dict(out["overrides"])
    return out


@dataclasses.dataclass
class BenchSettings:
    """What every model of a bench run shares.

    Attributes
    ----------
    seed : int
        Seeds the task (training scenes from seed ``2 * seed``, held-out ones from
        ``2 * seed + 1``), the initial weights and the batch order.
    n_train, n_eval : int
        Training scenes (all their queries) and held-out scenes (one query each, the kinds
        in equal shares).
    scene_size : int
        Side of the synthetic scenes in pixels.
    scene : dict
        Further `xemap.data.synthetic.make_scene` arguments (object count, radii).
    score_size : int
        Maps are scored at this side (see :mod:`xemap.bench.scoring`).
    threads : int
        torch threads (1: on the shared 2-core machine 2 threads ran 1.5-7x slower per step).
    workers : int
        Scoring worker processes of the runner.
    metrics : tuple of str
        Metric families of the blocks (``"selo"``, ``"rrsis"``: both by default; see
        ``scoring.METRIC_KEYS``).
    """

    seed: int = 0
    n_train: int = 600
    n_eval: int = 200
    scene_size: int = 64
    scene: dict = dataclasses.field(
        default_factory=lambda: {"n_objects": (5, 8), "radius": (0.06, 0.095)}
    )
    score_size: int = 1024
    threads: int = 1
    workers: int = 1
    metrics: tuple = ("selo", "rrsis")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as lists)."""

        def plain(v: Any) -> Any:
            if isinstance(v, tuple | list):
                return [plain(x) for x in v]
            if isinstance(v, Mapping):
                return {k: plain(x) for k, x in v.items()}
            return v

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}
