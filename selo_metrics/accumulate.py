"""``SeLoAccumulator``: average a test set one map at a time, and merge across workers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .conventions import CONVENTIONS
from .metrics import SeLoResult, evaluate
from .report import summarize
from .rrsis_run import parse_metrics, rrsis_row
from .samples import RESERVED

__all__ = ["SeLoAccumulator"]

_METRIC_KEYS = ("rsu", "ras", "rda", "rmi")


def _check_attributes(attributes: Mapping[str, Any] | None) -> None:
    """Refuse attribute names that are row fields: ``rmi=7`` would replace the metric."""
    reserved = sorted(set(attributes or ()) & RESERVED)
    if reserved:
        raise ValueError(f"attribute name(s) {reserved} are reserved (the metrics and row "
                         f"fields: {sorted(RESERVED)}); rename them")


class SeLoAccumulator:
    """Accumulate per-sample SeLo results and compute the summary of a test set.

    In the spirit of torchmetrics: :meth:`update` once per map, :meth:`compute` for the
    summary, :meth:`merge` to combine accumulators filled by different processes or Dask
    workers, :meth:`reset` to start over. It keeps one small row per sample (metrics,
    seconds, attributes), never a map. The object pickles, so partial accumulators can be
    sent between processes.

    :meth:`compute` gives the same dict as the runner's ``summary.json``. Means use exactly
    rounded summation (``math.fsum``), so they do not depend on the order of updates or
    merges: one process, many, or Dask give identical numbers.

    What it refuses (``ValueError``), rather than give a silently wrong mean: results of
    another convention or other parameters than the ones it holds (``"slm"`` and
    ``"paper"`` numbers do not average); an attribute named like a row field (``rmi``,
    ``id``, ...: it would overwrite the metric); merging an accumulator into itself, or two
    accumulators that hold the same sample ``index`` (the sample would count twice).

    Parameters
    ----------
    convention : str
        Convention used when :meth:`update` is given a map (default ``"slm"``).
    attributes : sequence of str, optional
        Attribute names to break the means down by; default: every attribute seen.
    metrics : sequence of str or str
        The metric families: ``("selo",)`` (default), ``("rrsis",)`` or both
        (``"selo,rrsis"``); the RRSIS family adds ``miou``, ``oiou`` and ``prec@t`` to the
        summary (:mod:`selo_metrics.rrsis_run`).
    rrsis_size : int, optional
        Score the RRSIS metrics at this square size (RMSIN's protocol); default: the GT's
        own resolution.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.zeros((300, 300), np.uint8); g[100:200, 100:200] = 255
    >>> square = [[(90, 90), (210, 90), (210, 210), (90, 210)]]
    >>> a, b = SeLoAccumulator(), SeLoAccumulator()
    >>> _ = a.update(g, square, sample_id="q0", attributes={"multi_hop": False})
    >>> _ = b.update(g.T.copy(), square, sample_id="q1", attributes={"multi_hop": True})
    >>> s = a.merge(b).compute()
    >>> s["count"], round(s["rmi"], 4), sorted(s["by_attribute"]["multi_hop"])
    (2, 0.9987, ['false', 'true'])
    """

    #: the parameter overrides of the results held (None: no result yet)
    _params: dict[str, Any] | None = None

    def __init__(self, *, convention: str = "slm", attributes: list[str] | None = None,
                 metrics: Any = ("selo",), rrsis_size: int | None = None):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; choose from "
                             f"{sorted(CONVENTIONS)}")
        reserved = sorted(set(attributes or ()) & RESERVED)
        if reserved:
            raise ValueError(f"attribute name(s) {reserved} are reserved (row fields)")
        self.convention = convention
        self.attributes = None if attributes is None else list(attributes)
        self.metrics = parse_metrics(metrics)
        self.rrsis_size = rrsis_size
        self._rows: list[dict[str, Any]] = []
        self._params = None

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        failed = sum(1 for r in self._rows if r.get("error") is not None)
        return f"SeLoAccumulator({len(self._rows)} samples, {failed} failed)"

    def update(
        self,
        result_or_map: SeLoResult | np.ndarray,
        polygons: Any = None,
        *,
        sample_id: Any = None,
        index: int | None = None,
        attributes: Mapping[str, Any] | None = None,
        seconds: float | None = None,
        **params: Any,
    ) -> SeLoResult | dict[str, Any]:
        """Add one sample: a :class:`SeLoResult`, or a map and its GT to evaluate.

        Parameters
        ----------
        result_or_map : SeLoResult or array_like
            A result (SeLo metrics only), or a map that is scored with
            :func:`selo_metrics.evaluate` and / or :func:`selo_metrics.rrsis_run.rrsis_row`.
        polygons : object, optional
            The GT polygons (required with a map); with the RRSIS family only, a 0/1 mask
            may be given instead.
        sample_id : object, optional
            The sample's id (default: the result's ``sample_id``).
        index : int, optional
            The sample's position in the test set (orders the ``failures`` list).
        attributes : mapping, optional
            Scalar attributes of the sample (``multi_hop``, ``source``, ...).
        seconds : float, optional
            Time spent on the sample (default: the evaluation's time, when it evaluates).
        **params
            Constant overrides passed to :func:`selo_metrics.evaluate`.

        Returns
        -------
        SeLoResult or dict
            The SeLo result added; with the RRSIS family only, its row
            (``iou``, ``inter``, ``union``).

        Raises
        ------
        SeLoInputError
            The map or polygons cannot be scored (nothing is added; see
            :meth:`add_failure` to record it).
        """
        _check_attributes(attributes)
        rrsis: dict[str, Any] = {}
        if isinstance(result_or_map, SeLoResult):
            if polygons is not None or params:
                raise TypeError("update(result) takes no polygons or params")
            if "rrsis" in self.metrics:
                raise TypeError("update(result) carries the SeLo metrics only; give the map "
                                "and its GT to score the RRSIS metrics")
            result = result_or_map
            self._check_setting(result.convention, result.params, result.sample_id)
        else:
            self._check_setting(self.convention, params, sample_id)
            if polygons is None:
                raise TypeError("update(map, polygons): polygons are required with a map")
            t0 = time.perf_counter()
            result = None
            if "selo" in self.metrics:
                result = evaluate(result_or_map, polygons, convention=self.convention,
                                  sample_id=sample_id, **params)
            if "rrsis" in self.metrics:
                rrsis = rrsis_row(result_or_map, polygons, size=self.rrsis_size,
                                  convention=self.convention, sample_id=sample_id)
            if seconds is None:
                seconds = time.perf_counter() - t0
        selo = {} if result is None else {k: float(getattr(result, k)) for k in _METRIC_KEYS}
        row: dict[str, Any] = {
            "index": index,
            "id": result.sample_id if sample_id is None and result is not None else sample_id,
            **selo,
            **rrsis,
            "seconds": seconds,
        }
        row.update(attributes or {})
        self._rows.append(row)
        self._params = dict(result.params if result is not None else params)
        return result if result is not None else rrsis

    def _check_setting(self, convention: str, params: Mapping[str, Any], sample: Any) -> None:
        """Refuse a result of another convention or other parameters than those held."""
        if convention != self.convention:
            raise ValueError(
                f"sample {sample!r} was scored with convention {convention!r}, this "
                f"accumulator holds {self.convention!r} results; use "
                f"SeLoAccumulator(convention={convention!r}) for them"
            )
        if self._params is not None and dict(params) != self._params:
            raise ValueError(
                f"sample {sample!r} was scored with parameters {dict(params)}, this "
                f"accumulator holds results with {self._params}; they do not average"
            )

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Add a row as the runner writes it (metrics, or ``error``, plus attributes).

        Examples
        --------
        >>> acc = SeLoAccumulator()
        >>> acc.add_row({"index": 0, "id": "a", "error": {"type": "MapReadError",
        ...              "message": "map file a.png does not exist"}})
        >>> acc.compute()["failed"]
        1
        """
        need = (_METRIC_KEYS if "selo" in self.metrics else ()) + (
            ("inter", "union") if "rrsis" in self.metrics else ())
        if row.get("error") is None and any(row.get(k) is None for k in need):
            what = "all four metrics" if need == _METRIC_KEYS else ", ".join(need)
            raise ValueError(f"row {row.get('id')!r} has neither {what} nor 'error'")
        if row.get("convention", self.convention) != self.convention:
            raise ValueError(f"row {row.get('id')!r} has convention {row['convention']!r}, "
                             f"this accumulator holds {self.convention!r} results")
        self._rows.append(dict(row))

    def add_failure(self, sample_id: Any, error: BaseException | str, *,
                    index: int | None = None,
                    attributes: Mapping[str, Any] | None = None) -> None:
        """Record a sample that could not be scored; it counts in ``count`` and ``failed``.

        Examples
        --------
        >>> acc = SeLoAccumulator()
        >>> acc.add_failure("q7", ValueError("polygon has zero area"))
        >>> acc.compute()["failures"]
        [{'index': None, 'id': 'q7',
          'error': {'type': 'ValueError', 'message': 'polygon has zero area'}}]
        """
        _check_attributes(attributes)
        if isinstance(error, BaseException):
            err = {"type": type(error).__name__, "message": str(error)}
        else:
            err = {"type": "Error", "message": str(error)}
        self._rows.append({"index": index, "id": sample_id, "error": err, **(attributes or {})})

    def merge(self, other: SeLoAccumulator) -> SeLoAccumulator:
        """Add every sample of ``other`` to this accumulator and return it.

        Raises
        ------
        ValueError
            ``other`` is this accumulator (its samples would count twice), holds a sample
            ``index`` this one holds too, or holds results of another convention or other
            parameters.

        Examples
        --------
        >>> acc = SeLoAccumulator()
        >>> acc.merge(acc)
        Traceback (most recent call last):
        ...
        ValueError: cannot merge an accumulator into itself: its samples would count twice
        """
        if not isinstance(other, SeLoAccumulator):
            raise TypeError(f"cannot merge {type(other).__name__} into SeLoAccumulator")
        if (other.metrics, other.rrsis_size) != (self.metrics, self.rrsis_size):
            raise ValueError(f"cannot merge an accumulator of metrics {other.metrics} (RRSIS "
                             f"size {other.rrsis_size}) into one of {self.metrics} "
                             f"(RRSIS size {self.rrsis_size})")
        if other is self:
            raise ValueError("cannot merge an accumulator into itself: its samples would count "
                             "twice")
        if other.convention != self.convention:
            raise ValueError(f"cannot merge {other.convention!r} results into an accumulator "
                             f"of {self.convention!r} results")
        other_params = other._params
        if None not in (self._params, other_params) and self._params != other_params:
            raise ValueError(f"cannot merge results with parameters {other_params} into "
                             f"results with {self._params}")
        held = {r["index"]: r.get("id") for r in self._rows if r.get("index") is not None}
        twice = [(r["index"], r.get("id")) for r in other._rows if r.get("index") in held]
        if twice:
            index, sid = twice[0]
            raise ValueError(f"{len(twice)} sample(s) are in both accumulators, first index "
                             f"{index} (id {sid!r}): merging would count them twice")
        self._rows.extend(dict(r) for r in other._rows)
        if self._params is None:
            self._params = other_params
        if other.attributes is not None and self.attributes is not None:
            self.attributes += [a for a in other.attributes if a not in self.attributes]
        return self

    def reset(self) -> None:
        """Forget every sample (and the parameters they were scored with)."""
        self._rows.clear()
        self._params = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows, ordered by ``index`` where given (a copy)."""
        return [dict(r) for r in self._ordered()]

    def _ordered(self) -> list[dict[str, Any]]:
        return sorted(self._rows, key=lambda r: (r.get("index") is None, r.get("index") or 0))

    def _attribute_names(self) -> list[str]:
        if self.attributes is not None:
            return self.attributes
        names: list[str] = []
        for row in self._rows:
            names += [k for k in row if k not in RESERVED and k not in names]
        return names

    def compute(self) -> dict[str, Any]:
        """The summary: counts, exact means, time, per-attribute means, failures.

        Returns
        -------
        dict
            See :func:`selo_metrics.report.summarize`.
        """
        return summarize(self._ordered(), attributes=self._attribute_names(),
                         metrics=self.metrics)
