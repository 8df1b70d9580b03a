"""A finished run directory read back: its summary, its rows, and a pandas table of them.

:func:`selo_metrics.load_run` returns a :class:`LoadedRun`, a named tuple of ``(summary,
rows)`` (so ``summary, rows = load_run(d)`` keeps working) with :meth:`LoadedRun.to_frame`.

The metric columns of a run's summary are its keys that hold a mean, in this order: the
SeLo metrics as the papers print them (``rmi``, ``rsu``, ``ras``, ``rda``), then the RRSIS
metrics (``miou``, ``oiou``, then ``prec@t`` by rising ``t``), then any other metric key by
name (:func:`metric_keys`). A row's per-sample metrics are ``rmi``, ``rsu``, ``ras``,
``rda`` (SeLo) and ``iou``, ``inter``, ``union`` (RRSIS), those the rows hold
(:func:`row_metric_keys`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .samples import RESERVED

__all__ = ["ROW_METRICS", "LoadedRun", "metric_keys", "row_metric_keys"]

_SELO = ("rmi", "rsu", "ras", "rda")
#: the per-sample metric columns of ``samples.jsonl`` rows, in the tables' order
ROW_METRICS = (*_SELO, "iou", "inter", "union")
_RRSIS = ("miou", "oiou")
#: summary keys that are not metric means
_NOT_METRICS = frozenset(
    {
        "count",
        "scored",
        "failed",
        "pending",
        "seconds_total",
        "seconds_per_map",
        "by_attribute",
        "failures",
        "run",
    }
)


def _rank(key: str) -> tuple[int, float, str]:
    if key in _SELO:
        return (0, _SELO.index(key), key)
    if key in _RRSIS:
        return (1, _RRSIS.index(key), key)
    if key.startswith("prec@"):
        try:
            return (2, float(key[5:]), key)
        except ValueError:
            pass
    return (3, 0.0, key)


def metric_keys(summary: Mapping[str, Any]) -> list[str]:
    """The metric keys of a summary, in the tables' order.

    A metric key is one whose value is a number or None (nothing scored) and that is not a
    count, a time or a nested block.

    Examples
    --------
    >>> metric_keys({"count": 3, "rsu": 0.5, "miou": 0.4, "prec@0.9": 0.1, "prec@0.5": 0.7,
    ...              "rmi": 0.6, "ras": 0.2, "rda": 0.9, "seconds_total": 1.0})
    ['rmi', 'rsu', 'ras', 'rda', 'miou', 'prec@0.5', 'prec@0.9']
    """
    keys = [
        k
        for k, v in summary.items()
        if k not in _NOT_METRICS
        and (v is None or (isinstance(v, int | float) and not isinstance(v, bool)))
    ]
    return sorted(keys, key=_rank)


def row_metric_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-sample metric keys that rows hold (:data:`ROW_METRICS` order).

    Examples
    --------
    >>> row_metric_keys([{"id": "a", "iou": 0.5, "inter": 1, "union": 2, "rmi": 0.4}])
    ['rmi', 'iou', 'inter', 'union']
    """
    return [k for k in ROW_METRICS if any(r.get(k) is not None for r in rows)]


class LoadedRun(NamedTuple):
    """A run directory read back: ``summary`` (``summary.json``) and ``rows``.

    ``rows`` holds the newest row of every sample of ``samples.jsonl``, by sample index.
    Being a named tuple, it unpacks as ``summary, rows = selo_metrics.load_run(run_dir)``.

    Examples
    --------
    >>> run = LoadedRun({"count": 1, "rmi": 0.9}, [{"index": 0, "id": "a", "rmi": 0.9}])
    >>> summary, rows = run
    >>> summary["rmi"], len(rows), run.metric_keys
    (0.9, 1, ['rmi'])
    """

    summary: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def metric_keys(self) -> list[str]:
        """The run's metric keys, in the tables' order (see :func:`metric_keys`)."""
        return metric_keys(self.summary)

    @property
    def row_metric_keys(self) -> list[str]:
        """The per-sample metric keys of the rows (see :func:`row_metric_keys`)."""
        return row_metric_keys(self.rows)

    @property
    def attribute_names(self) -> list[str]:
        """The sample attributes the rows carry, in order of first appearance."""
        names: list[str] = []
        for row in self.rows:
            names += [
                k for k in row if k not in RESERVED and k not in ROW_METRICS and k not in names
            ]
        return names

    def to_frame(self) -> Any:
        """One row per sample as a :class:`pandas.DataFrame` (needs pandas).

        The frame is indexed by the sample index and has the columns ``id``, ``query``,
        the per-sample metrics (:attr:`row_metric_keys`: ``rmi``, ``rsu``, ``ras``, ``rda``
        and / or ``iou``, ``inter``, ``union``; NaN where the sample failed), ``mask_area``,
        ``seconds``, ``error_type`` and ``error`` (the failure's type and message, missing
        where the sample was scored), the attributes, then ``map`` and ``overlay``.

        Raises
        ------
        ImportError
            pandas is not installed.

        Examples
        --------
        The per-attribute means (pandas' mean skips the failed samples' NaN, as the
        summary does; the summary's means are exactly rounded sums, pandas' may differ in
        the last digit):

        >>> run = LoadedRun({"count": 3, "rmi": 0.5}, [
        ...     {"index": 0, "id": "a", "rmi": 0.4, "seconds": 0.1, "multi_hop": True},
        ...     {"index": 1, "id": "b", "rmi": 0.6, "seconds": 0.1, "multi_hop": False},
        ...     {"index": 2, "id": "c", "seconds": 0.0, "multi_hop": True,
        ...      "error": {"type": "MapReadError", "message": "map file c.jpg is empty"}}])
        >>> df = run.to_frame()
        >>> df.groupby("multi_hop")["rmi"].agg(["mean", "count"])
                   mean  count
        multi_hop
        False       0.6      1
        True        0.4      1
        >>> df.loc[df["error"].notna(), ["id", "error_type"]]
              id    error_type
        index
        2      c  MapReadError
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("LoadedRun.to_frame needs pandas: pip install pandas") from None
        families = self.summary.get("metrics", ["selo"])
        metrics = self.row_metric_keys or [
            *(_SELO if "selo" in families else ()),
            *(("iou", "inter", "union") if "rrsis" in families else ()),
        ]
        attrs = self.attribute_names
        records = []
        for row in self.rows:
            err = row.get("error") or {}
            rec: dict[str, Any] = {
                "index": row.get("index"),
                "id": row.get("id"),
                "query": row.get("query"),
            }
            for key in metrics:
                value = row.get(key)
                rec[key] = float("nan") if value is None else value
            rec["mask_area"] = row.get("mask_area")
            rec["seconds"] = row.get("seconds")
            rec["error_type"] = err.get("type")
            rec["error"] = err.get("message")
            for key in attrs:
                rec[key] = row.get(key)
            rec["map"] = row.get("map")
            rec["overlay"] = row.get("overlay")
            records.append(rec)
        columns = [
            "index",
            "id",
            "query",
            *metrics,
            "mask_area",
            "seconds",
            "error_type",
            "error",
            *attrs,
            "map",
            "overlay",
        ]
        return pd.DataFrame.from_records(records, columns=columns).set_index("index")
