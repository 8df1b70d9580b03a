"""The data side of training: the dataset a family needs, the epoch order, device batches.

The dataset is `xemap.data.datasets.ReferringDataset` with the family's ``supervision``:
``"mcmg"`` gives each item a ``target`` (the MCMG map / 255 at the input size), ``"mask"`` a
``mask`` (bool, polygons rasterised at the input size). The order of an epoch is a
permutation seeded by ``(seed, epoch)`` alone, split between processes as
``DistributedSampler`` does (padded to a multiple of the world size, rank ``r`` takes every
``world``-th index from ``r``), so a run resumed inside an epoch skips exactly the batches the
interrupted one had done. `device_batch` turns a collated batch into what ``model.loss``
takes::

    pixel_values   float (B, 3, S, S), normalised by the model (model.normalise)
    input_ids, attention_mask[, token_type_ids]   from model.tokenize_fn()
    target         float (B, S, S) in [0, 1]      (supervision "mcmg")
    mask           bool (B, S, S)                 (supervision "mask")
    query, id      lists of str
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from xemap.data.datasets import Collator, ReferringDataset
from xemap.data.mcmg import DEFAULT_GRID_SIZES

__all__ = ["device_batch", "epoch_batches", "make_dataset", "make_loader"]


def make_dataset(
    samples: Sequence[dict[str, Any]],
    model: Any,
    *,
    grid_sizes: Sequence[int] | None = None,
    sigma: float | None = None,
) -> ReferringDataset:
    """The training dataset for ``model``: its input size and its supervision."""
    return ReferringDataset(
        samples,
        image_size=int(model.config.image_size),
        grid_sizes=grid_sizes or DEFAULT_GRID_SIZES,
        sigma=sigma,
        supervision=model.supervision,
    )


def epoch_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[list[int]]:
    """This process's batches (lists of sample indices) of epoch ``epoch``.

    Examples
    --------
    >>> epoch_batches(5, 2, seed=0, epoch=1) == epoch_batches(5, 2, seed=0, epoch=1)
    True
    >>> sorted(i for b in epoch_batches(5, 2, seed=0, epoch=1) for i in b)
    [0, 1, 2, 3, 4]
    >>> [len(b) for b in epoch_batches(5, 2, seed=0, epoch=1, rank=1, world=2)]
    [2, 1]
    """
    gen = torch.Generator().manual_seed(int(seed) * 1000003 + int(epoch))
    order = torch.randperm(n, generator=gen).tolist()
    if world > 1:
        total = -(-n // world) * world
        order = (order * (-(-total // max(n, 1))))[:total]
        order = order[rank:total:world]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def make_loader(
    dataset: ReferringDataset,
    model: Any,
    batches: list[list[int]],
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` over the given batches, tokenising with ``model.tokenize_fn()``.

    Its own generator seeds the worker processes, so the global random state (dropout) is
    the same whether or not the run was resumed.
    """
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=Collator(model.tokenize_fn()),
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(int(seed)),
    )


def device_batch(raw: dict[str, Any], model: Any, device: torch.device) -> dict[str, Any]:
    """A collated batch on ``device`` with ``pixel_values`` instead of the uint8 ``image``."""
    out: dict[str, Any] = {
        "pixel_values": model.normalise(raw["image"].to(device, non_blocking=True))
    }
    for key, value in raw.items():
        if key == "image":
            continue
        out[key] = value.to(device, non_blocking=True) if torch.is_tensor(value) else value
    return out
