"""Distributed set-up: torchrun's environment, the process group, the DDP-wrapped loss.

Launched by ``torchrun`` (``WORLD_SIZE > 1``) a training run starts a process group (NCCL on
CUDA, gloo on CPU) and wraps `LossModule` (a small module whose ``forward(batch)`` returns
``model.loss(batch)``) in ``DistributedDataParallel``, so gradients are averaged over the
processes whatever the family's loss does inside. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "DistSetupError",
    "LossModule",
    "any_rank",
    "barrier",
    "setup",
    "teardown",
    "wrap",
]


class DistSetupError(ValueError):
    """A device or launch environment that cannot be used."""


@dataclass
class DistContext:
    """Where this process runs: ``world`` processes, this one ``rank`` on ``device``."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialised_here: bool = False

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that writes checkpoints and logs."""
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` (this process's GPU) or ``cuda:N``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DistSetupError(f"device {name!r} asked for but CUDA is not available")
    return torch.device(name)


def setup(device: str = "auto") -> DistContext:
    """Read torchrun's ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK``, start the process group.

    Examples
    --------
    >>> ctx = setup("cpu")
    >>> ctx.world, ctx.is_main, ctx.device.type
    (1, True, 'cpu')
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = 0, 0
    if world > 1:
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    here = False
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        here = True
    return DistContext(world, rank, local_rank, dev, here)


def teardown(ctx: DistContext) -> None:
    """End the process group if `setup` started it."""
    if ctx.initialised_here and dist.is_initialized():
        dist.destroy_process_group()


class LossModule(nn.Module):
    """``forward(batch) = model.loss(batch)``: what DDP wraps, so it syncs the gradients.

    Examples
    --------
    >>> from xemap.models import create_model
    >>> m = create_model("xemap", "tiny")
    >>> LossModule(m).model is m
    True
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The family's training loss on ``batch`` (a scalar)."""
        return self.model.loss(batch)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """`LossModule` of ``model``, in ``DistributedDataParallel`` when distributed."""
    net: nn.Module = LossModule(model)
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = DDP(net, device_ids=ids)
    return net


def barrier(ctx: DistContext) -> None:
    """Wait for every process (nothing to do in a single process)."""
    if ctx.distributed:
        dist.barrier()


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every process when ``flag`` is true on any (all stop at the same step)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([float(flag)], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
