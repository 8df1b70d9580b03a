"""Summary tables in the order of the papers' tables: Rmi, Rsu, Ras, Rda, time."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["COLUMNS", "format_table", "summarize"]

#: (key, header) in the papers' order; the arrow says which way is better
COLUMNS = (("rmi", "↑Rmi"), ("rsu", "↑Rsu"), ("ras", "↓Ras"), ("rda", "↑Rda"))


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Count, failures and exact means (``math.fsum``, in the given order) of scored rows.

    A row is a dict with ``rsu``, ``ras``, ``rda``, ``rmi`` and ``seconds``, or with
    ``error`` for a sample that could not be scored.

    Examples
    --------
    >>> s = summarize([{"rsu": 1.0, "ras": 0.0, "rda": 1.0, "rmi": 1.0, "seconds": 0.5},
    ...                {"error": "SeLoInputError: empty map"}])
    >>> s["count"], s["failures"], s["rmi"], s["seconds_per_map"]
    (2, 1, 1.0, 0.5)
    """
    ok = []
    failures = 0
    for row in rows:
        if row.get("error") is not None:
            failures += 1
        else:
            ok.append(row)
    n = len(ok)
    out: dict[str, Any] = {"count": n + failures, "scored": n, "failures": failures}
    for key, _ in COLUMNS:
        out[key] = math.fsum(r[key] for r in ok) / n if n else None
    total = math.fsum(r.get("seconds", 0.0) for r in ok)
    out["seconds_total"] = total
    out["seconds_per_map"] = total / n if n else None
    return out


def _fmt(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def format_table(summaries: Sequence[tuple[str, dict[str, Any]]], *, title: str = "") -> str:
    """A Markdown table, one row per named summary.

    Examples
    --------
    >>> s = summarize([{"rsu": 0.9, "ras": 0.1, "rda": 0.8, "rmi": 0.875, "seconds": 0.25}])
    >>> print(format_table([("model A", s)]))
    | run     | ↑Rmi   | ↑Rsu   | ↓Ras   | ↑Rda   | maps | failed | s/map |
    |---------|--------|--------|--------|--------|------|--------|-------|
    | model A | 0.8750 | 0.9000 | 0.1000 | 0.8000 | 1    | 0      | 0.250 |
    """
    header = ["run"] + [h for _, h in COLUMNS] + ["maps", "failed", "s/map"]
    body = [
        [name] + [_fmt(s[k]) for k, _ in COLUMNS]
        + [str(s["count"]), str(s["failures"]), _fmt(s["seconds_per_map"], 3)]
        for name, s in summaries
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(r) for r in body]
    if title:
        lines.insert(0, title)
    return "\n".join(lines)
