"""The bench's table: per model and per query kind, the three scorings and the reading gap.

One row per (model, kind, scoring); the metric columns are those of the blocks (`METRIC_KEYS`
of :mod:`xemap.bench.scoring`), the last column is the reading gap on the ``trained`` row:
trained Rmi minus control Rmi (the trained model given another scene's query). A model that
ignores the query has a gap of zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from selo_metrics.rrsis_run import RRSIS_COLUMNS

__all__ = ["SCORINGS", "format_bench_table", "markdown_table", "metric_header", "reading_gap"]

#: the bench.json keys of the three scorings, and their names in the table
SCORINGS: dict[str, str] = {"untrained": "untrained", "trained": "trained", "shuffled": "control"}
#: arrows of the metric columns (higher or lower is better)
_ARROWS = {"ras": "↓"}
_NAMES = {"rmi": "Rmi", "rsu": "Rsu", "ras": "Ras", "rda": "Rda", **dict(RRSIS_COLUMNS)}


def reading_gap(result: Mapping[str, Any], kind: str | None = None, key: str = "rmi") -> float:
    """``trained - shuffled`` of one model's result (overall, or for one query ``kind``).

    Examples
    --------
    >>> r = {"trained": {"rmi": 0.7, "per_kind": {"a": {"rmi": 0.6}}},
    ...      "shuffled": {"rmi": 0.5, "per_kind": {"a": {"rmi": 0.55}}}}
    >>> round(reading_gap(r), 4), round(reading_gap(r, "a"), 4)
    (0.2, 0.05)
    """
    t, c = result["trained"], result["shuffled"]
    if kind is not None:
        t, c = t["per_kind"][kind], c["per_kind"][kind]
    return float(t[key]) - float(c[key])


def metric_header(key: str) -> str:
    """A metric's column header: its arrow (higher or lower is better) and its name.

    Examples
    --------
    >>> metric_header("ras"), metric_header("prec@0.5")
    ('↓Ras', '↑P@0.5')
    """
    return _ARROWS.get(key, "↑") + _NAMES.get(key, key)


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    """Rows as a markdown table with padded columns.

    Examples
    --------
    >>> print(markdown_table(["a", "bb"], [["1", "2"]]))
    | a | bb |
    |---|----|
    | 1 | 2  |
    """
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def format_bench_table(models: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> str:
    """The bench table (markdown) of ``bench.json``'s ``models``; the gap is in ``keys[0]``
    (Rmi with the SeLo metrics, mIoU with the RRSIS ones alone).

    Examples
    --------
    >>> b = {"rmi": 0.5, "rsu": 0.5, "ras": 0.5, "rda": 0.5, "n": 4, "per_kind": {}}
    >>> t = {**b, "rmi": 0.75}
    >>> print(format_bench_table({"xemap": {"untrained": b, "trained": t, "shuffled": b}},
    ...                          ("rmi", "rsu", "ras", "rda")))
    | model | kind | n | run       | ↑Rmi   | ↑Rsu   | ↓Ras   | ↑Rda   | gap Rmi |
    |-------|------|---|-----------|--------|--------|--------|--------|---------|
    | xemap | all  | 4 | untrained | 0.5000 | 0.5000 | 0.5000 | 0.5000 |         |
    | xemap | all  | 4 | trained   | 0.7500 | 0.5000 | 0.5000 | 0.5000 | +0.2500 |
    | xemap | all  | 4 | control   | 0.5000 | 0.5000 | 0.5000 | 0.5000 |         |
    """
    gap_key = keys[0]
    header = ["model", "kind", "n", "run", *(metric_header(k) for k in keys)]
    header.append(f"gap {_NAMES.get(gap_key, gap_key)}")
    body = []
    for name, res in models.items():
        kinds = sorted({k for s in SCORINGS for k in res[s].get("per_kind", {})})
        for kind in [None, *kinds]:
            for s, label in SCORINGS.items():
                block = res[s] if kind is None else res[s]["per_kind"].get(kind)
                if block is None:
                    continue
                gap = ""
                if s == "trained" and (kind is None or kind in res["shuffled"]["per_kind"]):
                    gap = f"{reading_gap(res, kind, gap_key):+.4f}"
                cells = [f"{block[k]:.4f}" if block.get(k) is not None else "-" for k in keys]
                body.append([name, kind or "all", str(block["n"]), label, *cells, gap])
    return markdown_table(header, body)
