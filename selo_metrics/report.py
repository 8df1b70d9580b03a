"""Summaries and tables in the order of the papers' tables: Rmi, Rsu, Ras, Rda, time.

A *row* is one scored sample, as the runner writes it to ``samples.jsonl``: a dict with
``rsu``, ``ras``, ``rda``, ``rmi`` and ``seconds``, or with ``error`` for a sample that could
not be scored, plus its attributes. With the RRSIS family (``metrics``), rows hold ``iou``,
``inter`` and ``union``; the summary adds ``miou``, ``oiou`` and ``prec@t``
(:mod:`selo_metrics.rrsis_run`), and tables print them after the SeLo columns, x 100 with
2 decimals as the RRSIS papers do. :func:`summarize` turns rows into the summary dict that
``summary.json`` holds and :class:`~selo_metrics.SeLoAccumulator` computes; the format
functions print it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .rrsis_run import RRSIS_COLUMNS, rrsis_stats

__all__ = ["COLUMNS", "check_summary", "format_attribute_table", "format_compare",
           "format_table", "summarize"]

#: (key, header) in the papers' order; the arrow says which way is better
COLUMNS = (("rmi", "↑Rmi"), ("rsu", "↑Rsu"), ("ras", "↓Ras"), ("rda", "↑Rda"))
_METRICS = tuple(k for k, _ in COLUMNS)


def _stats(rows: list[Mapping[str, Any]], metrics: Sequence[str] = ("selo",)) -> dict[str, Any]:
    ok = [r for r in rows if r.get("error") is None]
    n = len(ok)
    out: dict[str, Any] = {"count": len(rows), "scored": n, "failed": len(rows) - n}
    for key in _METRICS if "selo" in metrics else ():
        # math.fsum is exactly rounded: the mean does not depend on the order of the rows,
        # so any number of workers, or Dask, gives the very same figures
        out[key] = math.fsum(r[key] for r in ok) / n if n else None
    if "rrsis" in metrics:
        out.update(rrsis_stats(ok))  # exact integer state: order-free too
    total = math.fsum(r.get("seconds") or 0.0 for r in ok)
    out["seconds_total"] = total
    out["seconds_per_map"] = total / n if n else None
    return out


def _attribute_key(value: Any) -> str:
    # NaN is JSON's null: a row read back from samples.jsonl holds None, so NaN groups there
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def summarize(rows: Iterable[Mapping[str, Any]], *, attributes: Sequence[str] | None = None,
              metrics: Sequence[str] = ("selo",)) -> dict[str, Any]:
    """Count, failures, exact means (``math.fsum``) and per-attribute means of rows.

    Parameters
    ----------
    rows : iterable of dict
        Scored rows (``rsu``, ``ras``, ``rda``, ``rmi``, ``seconds``) or failed rows
        (``error``), with any attributes as further keys.
    attributes : sequence of str, optional
        Attribute keys to break the means down by (default: none).
    metrics : sequence of str
        The metric families of the rows: ``"selo"`` (default), ``"rrsis"``.

    Returns
    -------
    dict
        ``count``, ``scored``, ``failed``, ``rmi``, ``rsu``, ``ras``, ``rda`` (with
        ``"selo"``; None when nothing was scored), ``miou``, ``oiou``, ``prec@0.5`` ..
        ``prec@0.9`` (with ``"rrsis"``), ``metrics``, ``seconds_total``,
        ``seconds_per_map``, ``by_attribute``
        (``{attribute: {value: the same statistics}}``, values as strings, booleans as
        ``"true"`` / ``"false"``) and ``failures`` (``index``, ``id`` and ``error`` of each).

    Examples
    --------
    >>> s = summarize([{"rsu": 1.0, "ras": 0.0, "rda": 1.0, "rmi": 1.0, "seconds": 0.5,
    ...                 "hop": 1},
    ...                {"index": 1, "id": "b", "error": {"type": "MapReadError",
    ...                 "message": "missing"}, "hop": 2}], attributes=["hop"])
    >>> s["count"], s["failed"], s["rmi"], s["seconds_per_map"]
    (2, 1, 1.0, 0.5)
    >>> s["by_attribute"]["hop"]["2"]["failed"], s["failures"][0]["id"]
    (1, 'b')
    """
    rows = list(rows)
    metrics = list(metrics)
    out = _stats(rows, metrics)
    out["metrics"] = metrics
    by: dict[str, dict[str, Any]] = {}
    for attr in attributes or ():
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            groups.setdefault(_attribute_key(row.get(attr)), []).append(row)
        by[attr] = {value: _stats(groups[value], metrics) for value in sorted(groups)}
    out["by_attribute"] = by
    out["failures"] = [
        {"index": r.get("index"), "id": r.get("id"), "error": r["error"]}
        for r in rows if r.get("error") is not None
    ]
    return out


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def check_summary(summary: Any) -> str | None:
    """What makes ``summary`` unusable by the tables (None when it is a summary).

    Examples
    --------
    >>> check_summary(summarize([])) is None
    True
    >>> check_summary({"count": 3})
    "no 'scored'"
    """
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    for key in ("count", "scored", "failed"):
        if key not in summary:
            return f"no {key!r}"
        if isinstance(summary[key], bool) or not isinstance(summary[key], int):
            return f"{key!r} is {summary[key]!r}, not a count"
    families = summary.get("metrics", ["selo"])
    if not isinstance(families, list) or not set(families) <= {"selo", "rrsis"}:
        return f"'metrics' is {families!r}, not a list of 'selo' / 'rrsis'"
    keys = [*(_METRICS if "selo" in families else ()),
            *(k for k, _ in RRSIS_COLUMNS if "rrsis" in families), "seconds_per_map"]
    for key in keys:
        if key not in summary:
            return f"no {key!r}"
        if not _number_or_none(summary[key]):
            return f"{key!r} is {summary[key]!r}, not a number"
    groups = summary.get("by_attribute", {})
    if not isinstance(groups, dict) or not all(
            isinstance(g, dict) and all(check_summary({"metrics": families, **s}) is None
                                        for s in g.values() if isinstance(s, dict))
            and all(isinstance(s, dict) for s in g.values())
            for g in groups.values()):
        return "'by_attribute' is not {attribute: {value: summary}}"
    return None


def _fmt(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _markdown(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in body)])


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _families(summaries: Iterable[Mapping[str, Any]]) -> list[str]:
    # a summary without "metrics" is a SeLo run (written before the RRSIS family existed)
    seen = {f for s in summaries for f in s.get("metrics", ["selo"])}
    return [f for f in ("selo", "rrsis") if f in seen]


def _cells(s: Mapping[str, Any], families: Sequence[str] = ("selo",)) -> list[str]:
    selo = [_fmt(s.get(k)) for k, _ in COLUMNS] if "selo" in families else []
    rrsis = [_pct(s.get(k)) for k, _ in RRSIS_COLUMNS] if "rrsis" in families else []
    return [*selo, *rrsis, str(s["count"]), str(s["failed"]), _fmt(s["seconds_per_map"], 3)]


def _header(families: Sequence[str]) -> list[str]:
    selo = [h for _, h in COLUMNS] if "selo" in families else []
    rrsis = [h for _, h in RRSIS_COLUMNS] if "rrsis" in families else []
    return [*selo, *rrsis, "maps", "failed", "s/map"]


def format_table(summaries: Sequence[tuple[str, Mapping[str, Any]]], *, title: str = "") -> str:
    """A Markdown table, one row per named summary, in the papers' column order.

    Examples
    --------
    >>> s = summarize([{"rsu": 0.9, "ras": 0.1, "rda": 0.8, "rmi": 0.875, "seconds": 0.25}])
    >>> print(format_table([("model A", s)]))
    | run     | ↑Rmi   | ↑Rsu   | ↓Ras   | ↑Rda   | maps | failed | s/map |
    |---------|--------|--------|--------|--------|------|--------|-------|
    | model A | 0.8750 | 0.9000 | 0.1000 | 0.8000 | 1    | 0      | 0.250 |
    """
    fam = _families(s for _, s in summaries)
    table = _markdown(["run", *_header(fam)], [[name, *_cells(s, fam)] for name, s in summaries])
    return f"{title}\n{table}" if title else table


def format_attribute_table(summary: Mapping[str, Any]) -> str:
    """The per-attribute means of a summary as a Markdown table ("" when there are none).

    Examples
    --------
    >>> rows = [{"rsu": 1.0, "ras": 0.0, "rda": 1.0, "rmi": 1.0, "seconds": 1.0, "hop": h}
    ...         for h in (1, 2)]
    >>> print(format_attribute_table(summarize(rows, attributes=["hop"])))
    | attribute | ↑Rmi   | ↑Rsu   | ↓Ras   | ↑Rda   | maps | failed | s/map |
    |-----------|--------|--------|--------|--------|------|--------|-------|
    | hop=1     | 1.0000 | 1.0000 | 0.0000 | 1.0000 | 1    | 0      | 1.000 |
    | hop=2     | 1.0000 | 1.0000 | 0.0000 | 1.0000 | 1    | 0      | 1.000 |
    """
    fam = _families([summary])
    body = [[f"{attr}={value}", *_cells(s, fam)]
            for attr, groups in summary.get("by_attribute", {}).items()
            for value, s in groups.items()]
    return _markdown(["attribute", *_header(fam)], body) if body else ""


def format_compare(runs: Sequence[tuple[str, Mapping[str, Any], Sequence[Mapping[str, Any]]]],
                   *, top: int = 10) -> str:
    """Summary tables side by side, then the samples whose Rmi differs most between runs.

    Runs without the SeLo metrics (``--metrics rrsis``) are compared by their IoU instead.

    Parameters
    ----------
    runs : sequence of (name, summary, rows)
        ``rows`` are the runs' scored rows (``index``, ``id``, ``rmi`` or ``iou``).
    top : int
        How many samples to list.

    Examples
    --------
    >>> a = [{"index": 0, "id": "q0", "rsu": 1.0, "ras": 0.0, "rda": 1.0, "rmi": 1.0}]
    >>> b = [{"index": 0, "id": "q0", "rsu": 0.5, "ras": 0.5, "rda": 0.5, "rmi": 0.5}]
    >>> print(format_compare([("A", summarize(a), a), ("B", summarize(b), b)]))
    | run | ↑Rmi   | ↑Rsu   | ↓Ras   | ↑Rda   | maps | failed | s/map |
    |-----|--------|--------|--------|--------|------|--------|-------|
    | A   | 1.0000 | 1.0000 | 0.0000 | 1.0000 | 1    | 0      | 0.000 |
    | B   | 0.5000 | 0.5000 | 0.5000 | 0.5000 | 1    | 0      | 0.000 |
    <BLANKLINE>
    Samples whose Rmi differs most (max - min over the runs):
    | id | A      | B      | spread |
    |----|--------|--------|--------|
    | q0 | 1.0000 | 0.5000 | 0.5000 |
    """
    out = [format_table([(name, s) for name, s, _ in runs])]
    key = "rmi" if all("selo" in s.get("metrics", ["selo"]) for _, s, _ in runs) else "iou"
    by_id: dict[str, dict[str, float]] = {}
    for name, _, rows in runs:
        for row in rows:
            if row.get("error") is None and row.get(key) is not None:
                by_id.setdefault(str(row.get("id")), {})[name] = row[key]
    names = [name for name, _, _ in runs]
    common = [(sid, v) for sid, v in by_id.items() if len(v) == len(names)]
    if len(names) > 1 and common:
        common.sort(key=lambda item: (-(max(item[1].values()) - min(item[1].values())), item[0]))
        body = [[sid, *(_fmt(v[n]) for n in names), _fmt(max(v.values()) - min(v.values()))]
                for sid, v in common[:top]]
        label = {"rmi": "Rmi", "iou": "IoU"}[key]
        out += ["", f"Samples whose {label} differs most (max - min over the runs):",
                _markdown(["id", *names, "spread"], body)]
    return "\n".join(out)
