"""The ``torchmetrics.Metric`` classes of :mod:`selo_metrics.torchmetrics` (imports torch)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from .conventions import CONVENTIONS
from .metrics import evaluate
from .report import summarize
from .rrsis import DEFAULT_THRESHOLDS, RRSISAccumulator
from .rrsis_run import rrsis_row

__all__ = ["RRSISMetric", "SeLoMetric"]

_FIELDS = ("rsu", "ras", "rda", "rmi", "seconds")


def _as_numpy_maps(preds: torch.Tensor) -> Any:
    """A ``(B, H, W)`` tensor as a CPU numpy array the library's kernels read."""
    if not isinstance(preds, torch.Tensor):
        raise TypeError(f"preds must be a torch.Tensor, got {type(preds).__name__}")
    if preds.ndim != 3:
        raise ValueError(f"preds must be (B, H, W) maps, got shape {tuple(preds.shape)}")
    maps = preds.detach()
    if maps.dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16
        maps = maps.float()
    return maps.cpu().numpy()


class _ExactStates(Metric):
    """Per-sample float64 states gathered with ``cat``: the means are summed exactly later.

    The states stay float64 whatever ``.to()``, ``.half()`` or ``set_dtype`` ask: the means
    must be exact. :attr:`dtype` says so, which is also the dtype ``torchmetrics`` gives the
    empty state of a process that saw no sample, so that it gathers with the others.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False
    _STATES: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in self._STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    def set_dtype(self, dst_type: Any) -> Metric:
        """Kept float64 (exact means): this does nothing."""
        return self

    def _append(self, name: str, values: Sequence[float]) -> None:
        getattr(self, name).append(torch.tensor(values, dtype=torch.float64, device=self.device))

    def _values(self, name: str) -> list[float]:
        state = getattr(self, name)
        if isinstance(state, list) and not state:
            return []
        return dim_zero_cat(state).cpu().tolist()


class SeLoMetric(_ExactStates):
    """Rsu, Ras, Rda and Rmi of a validation set, as a ``torchmetrics.Metric``.

    Parameters
    ----------
    convention : str
        ``"slm"`` (default, the official code) or ``"paper"``.
    params : dict, optional
        Constant overrides for :func:`selo_metrics.evaluate`.
    **kwargs
        ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``, ...).

    Notes
    -----
    The states are each sample's four metrics and time (float64, gathered with ``cat``),
    so :meth:`compute` sums them exactly (``math.fsum``) in any order and gives, bit for bit,
    :meth:`selo_metrics.SeLoAccumulator.compute` over the same samples (``seconds_*`` are
    the scoring times, which differ from run to run). A map or polygons that cannot be
    scored raise :class:`~selo_metrics.SeLoInputError` naming the sample (its position in
    the batch, or its id from ``sample_ids``); nothing of that batch is added.

    Examples
    --------
    >>> import torch
    >>> preds = torch.zeros(2, 300, 300); preds[:, 100:200, 100:200] = 1.0
    >>> square = [[(90, 90), (210, 90), (210, 210), (90, 210)]]
    >>> metric = SeLoMetric()
    >>> metric.update(preds, [square, square])
    >>> s = metric.compute()
    >>> s["count"], round(s["rmi"], 4)
    (2, 0.9987)
    """

    _STATES = _FIELDS

    def __init__(
        self, convention: str = "slm", params: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; choose from {list(CONVENTIONS)}")
        super().__init__(**kwargs)
        self.convention = convention
        self.params = dict(params or {})

    def update(
        self, preds: torch.Tensor, targets: Sequence[Any], sample_ids: Sequence[Any] | None = None
    ) -> None:
        """Score a batch: ``preds`` (B, H, W) probabilities, ``targets`` B polygon sets.

        Parameters
        ----------
        preds : torch.Tensor
            ``(B, H, W)``: float probabilities in [0, 1] (any float dtype), or uint8 0..255;
            any device (copied to the CPU).
        targets : sequence
            B ground truths, each anything :func:`selo_metrics.as_polygons` takes, in the
            map's pixel coordinates.
        sample_ids : sequence, optional
            B ids named in error messages (default: the position in the batch).
        """
        maps = _as_numpy_maps(preds)
        if len(targets) != len(maps):
            raise ValueError(f"got {len(maps)} maps but {len(targets)} targets")
        if sample_ids is not None and len(sample_ids) != len(maps):
            raise ValueError(f"got {len(maps)} maps but {len(sample_ids)} sample_ids")
        values: dict[str, list[float]] = {k: [] for k in _FIELDS}
        for i, (gray, polygons) in enumerate(zip(maps, targets, strict=True)):
            sid = i if sample_ids is None else sample_ids[i]
            t0 = time.perf_counter()
            result = evaluate(
                gray, polygons, convention=self.convention, sample_id=sid, **self.params
            )
            values["seconds"].append(time.perf_counter() - t0)
            for key in ("rsu", "ras", "rda", "rmi"):
                values[key].append(float(getattr(result, key)))
        for key, vals in values.items():
            self._append(key, vals)

    def compute(self) -> dict[str, Any]:
        """The summary dict of :meth:`selo_metrics.SeLoAccumulator.compute` (no attributes).

        Returns
        -------
        dict
            ``count``, ``scored``, ``failed`` (0), ``rmi``, ``rsu``, ``ras``, ``rda``
            (exact means; None without samples), ``seconds_total``, ``seconds_per_map``,
            ``by_attribute`` ({}) and ``failures`` ([]).
        """
        columns = {k: self._values(k) for k in _FIELDS}
        rows = [
            dict(zip(_FIELDS, vals, strict=True)) for vals in zip(*columns.values(), strict=True)
        ]
        return summarize(rows)


def _targets(targets: Any, n: int) -> list[Any]:
    """B ground truths: a (B, H, W) mask tensor / array, or a sequence of masks or polygons."""
    if isinstance(targets, torch.Tensor):
        if targets.ndim != 3:
            raise ValueError(f"target masks must be (B, H, W), got shape {tuple(targets.shape)}")
        targets = targets.detach().cpu().numpy()
    items = [t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t for t in targets]
    if len(items) != n:
        raise ValueError(f"got {n} maps but {len(items)} targets")
    return items


class RRSISMetric(_ExactStates):
    """mIoU, oIoU and precision@t of a validation set (RRSIS), as a ``torchmetrics.Metric``.

    Parameters
    ----------
    thresholds : sequence of float
        The IoU thresholds of ``prec@t`` (default 0.5 .. 0.9).
    size : int, optional
        Score at ``size x size`` as RMSIN does (:func:`selo_metrics.rrsis_run.rrsis_row`);
        default: the GT's own resolution.
    convention : str
        How polygon GT is rasterised (``"slm"`` default, or ``"paper"``).
    **kwargs
        ``torchmetrics.Metric`` options.

    Notes
    -----
    The states are each sample's intersection and union pixel counts (float64 tensors
    holding integers, exact below 2**53, gathered with ``cat``); :meth:`compute` adds them
    into a :class:`selo_metrics.rrsis.RRSISAccumulator`, so it returns, bit for bit, that
    accumulator's :meth:`~selo_metrics.rrsis.RRSISAccumulator.compute` over the same
    samples, in any order and over any number of processes.

    Examples
    --------
    >>> import torch
    >>> preds = torch.zeros(2, 4, 4); preds[:, :2, :] = 0.9
    >>> masks = torch.zeros(2, 4, 4, dtype=torch.bool); masks[:, :2, :2] = True
    >>> metric = RRSISMetric()
    >>> metric.update(preds, masks)
    >>> r = metric.compute()
    >>> r["n"], r["miou"], r["oiou"], r["prec@0.5"]
    (2, 0.5, 0.5, 1.0)
    """

    _STATES = ("inter", "union")

    def __init__(
        self,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        size: int | None = None,
        convention: str = "slm",
        **kwargs: Any,
    ) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; choose from {list(CONVENTIONS)}")
        checked = RRSISAccumulator(thresholds).thresholds  # refuses bad thresholds
        super().__init__(**kwargs)
        self.thresholds = checked
        self.size = size
        self.convention = convention

    def update(
        self, preds: torch.Tensor, targets: Any, sample_ids: Sequence[Any] | None = None
    ) -> None:
        """Score a batch: ``preds`` (B, H, W) probabilities, ``targets`` B ground truths.

        Parameters
        ----------
        preds : torch.Tensor
            ``(B, H, W)``: float probabilities of the foreground (> 0.5 is foreground), a
            bool mask, or uint8 0..255; any device (copied to the CPU).
        targets : torch.Tensor or sequence
            A ``(B, H, W)`` bool or 0/1 integer mask tensor, or B masks or polygon sets.
        sample_ids : sequence, optional
            B ids named in error messages (default: the position in the batch).
        """
        maps = _as_numpy_maps(preds)
        gts = _targets(targets, len(maps))
        if sample_ids is not None and len(sample_ids) != len(maps):
            raise ValueError(f"got {len(maps)} maps but {len(sample_ids)} sample_ids")
        inter, union = [], []
        for i, (pred, gt) in enumerate(zip(maps, gts, strict=True)):
            row = rrsis_row(
                pred,
                gt,
                size=self.size,
                convention=self.convention,
                sample_id=i if sample_ids is None else sample_ids[i],
            )
            inter.append(row["inter"])
            union.append(row["union"])
        self._append("inter", inter)
        self._append("union", union)

    def compute(self) -> dict[str, Any]:
        """``{"n", "miou", "oiou", "prec@0.5", ...}`` as :class:`RRSISAccumulator` gives."""
        acc = RRSISAccumulator(self.thresholds)
        for i, u in zip(self._values("inter"), self._values("union"), strict=True):
            acc.add(int(i), int(u))
        return acc.compute()
