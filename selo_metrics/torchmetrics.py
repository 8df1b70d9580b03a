"""The SeLo and RRSIS metrics as ``torchmetrics.Metric`` objects, for validation loops.

``SeLoMetric`` takes a batch of probability maps (a ``(B, H, W)`` tensor on any device) and
their GT polygons, scores each map on the CPU with :func:`selo_metrics.evaluate`, and keeps
the per-sample values as states that ``torchmetrics`` gathers across DDP processes;
:meth:`compute` returns the same dict as :meth:`selo_metrics.SeLoAccumulator.compute` over the
same samples (exactly rounded means: the order of batches and processes does not matter).
``RRSISMetric`` takes the same maps and GT masks (or polygons) and returns what
:class:`selo_metrics.rrsis.RRSISAccumulator` computes (mIoU, oIoU, precision@t).

torch and torchmetrics (the ``xemap`` extra) are imported when a class is first used, never
by ``import selo_metrics``::

    from selo_metrics.torchmetrics import SeLoMetric

    metric = SeLoMetric().to(device)
    for images, queries, polygons in val_loader:
        metric.update(model(images, queries), polygons)   # probabilities (B, H, W)
    summary = metric.compute()                            # synced across processes
    log(rmi=summary["rmi"]); metric.reset()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the classes import torch: loaded on first use (__getattr__)
    from ._torchmetrics_classes import RRSISMetric, SeLoMetric

__all__ = ["RRSISMetric", "SeLoMetric"]

_CLASSES = ("RRSISMetric", "SeLoMetric")


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        try:
            from . import _torchmetrics_classes as classes
        except ImportError as exc:
            raise ImportError(
                f"selo_metrics.torchmetrics.{name} needs torch and torchmetrics ({exc}): "
                "pip install 'selo-metrics[xemap]'"
            ) from None
        return getattr(classes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_CLASSES])
