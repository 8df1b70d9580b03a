"""Several bench runs (seeds) side by side: mean, spread and the worst seed of each figure.

``xemap bench --summarize DIR [DIR ...]`` reads each ``DIR/bench.json`` and prints, per model,
query kind and scoring, the mean Rmi over the runs, its sample standard deviation and its
range, and for the reading gap (trained - control) and the gain (trained - untrained) also the
smallest value: a target such as "gap >= 0.10 on every seed" is read off that column.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xemap.bench.report import SCORINGS, markdown_table

__all__ = ["format_seeds_table", "load_runs", "seed_stats"]


def load_runs(dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The ``bench.json`` of each folder (a ``ValueError`` names a folder without one)."""
    runs = []
    for d in dirs:
        path = Path(d) / "bench.json"
        if not path.is_file():
            raise ValueError(f"{d} holds no bench.json (not a finished xemap bench run)")
        runs.append(json.loads(path.read_text()))
    return runs


def seed_stats(values: Sequence[float]) -> dict[str, float]:
    """``mean``, ``sd`` (sample standard deviation; 0 for one value), ``min`` and ``max``.

    Examples
    --------
    >>> s = seed_stats([0.1, 0.2, 0.3])
    >>> round(s["mean"], 4), round(s["sd"], 4), s["min"], s["max"]
    (0.2, 0.1, 0.1, 0.3)
    """
    v = [float(x) for x in values]
    return {
        "mean": statistics.fmean(v),
        "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
        "min": min(v),
        "max": max(v),
    }


def _value(block: dict[str, Any], kind: str, key: str) -> float:
    return block[key] if kind == "all" else block["per_kind"][kind][key]


def format_seeds_table(runs: Sequence[dict[str, Any]], key: str = "rmi") -> str:
    """One row per model and kind: each scoring's mean +- sd of ``key``, then the gap
    (trained - control) and the gain (trained - untrained) as mean +- sd and minimum.

    Examples
    --------
    >>> b = {"rmi": 0.5, "per_kind": {}}
    >>> run = {"models": {"m": {"untrained": b, "trained": {**b, "rmi": 0.7}, "shuffled": b}},
    ...        "settings": {"seed": 0}}
    >>> row = format_seeds_table([run]).splitlines()[2].split("|")
    >>> [c.strip() for c in row[5:9]]
    ['0.7000 ± 0.0000', '0.5000 ± 0.0000', '+0.2000 ± 0.0000', '+0.2000']
    """
    names = list(runs[0]["models"])
    header = ["model", "kind", "seeds", *SCORINGS.values(), "gap", "gap min", "gain", "gain min"]
    body = []
    for name in names:
        rows = [r["models"][name] for r in runs]
        kinds = sorted(rows[0]["trained"]["per_kind"])
        for kind in ["all", *kinds]:
            cells = []
            for s in SCORINGS:
                st = seed_stats([_value(r[s], kind, key) for r in rows])
                cells.append(f"{st['mean']:.4f} ± {st['sd']:.4f}")
            for a, b in (("trained", "shuffled"), ("trained", "untrained")):
                st = seed_stats([_value(r[a], kind, key) - _value(r[b], kind, key) for r in rows])
                cells += [f"{st['mean']:+.4f} ± {st['sd']:.4f}", f"{st['min']:+.4f}"]
            body.append([name, kind, str(len(rows)), *cells])
    return markdown_table(header, body)
