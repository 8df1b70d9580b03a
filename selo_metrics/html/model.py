"""What the report shows, as plain data: tables, facts, galleries, the compare view.

No jinja2 and no matplotlib here; :mod:`selo_metrics.html.page` renders these structures
and :mod:`selo_metrics.html.figures` / :mod:`selo_metrics.html.thumbs` draw the pictures.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..loaded_run import LoadedRun, metric_keys
from ..report import COLUMNS
from ..rrsis_run import RRSIS_COLUMNS
from ..runner import load_run

__all__ = [
    "MAX_FAILURES",
    "Cell",
    "GalleryItem",
    "RunView",
    "columns",
    "compare_items",
    "gallery",
    "load_views",
    "rank_key",
    "table_row",
]

#: failures listed in the page (summary.json lists them all)
MAX_FAILURES = 100
#: the terminal's headers (``selo_metrics.report``); RRSIS columns are fractions printed
#: x 100 with 2 decimals as the RRSIS papers do, and so is a sample's IoU
_HEADERS = dict(COLUMNS)
_PERCENT = {**dict(RRSIS_COLUMNS), "iou": "IoU"}


@dataclass(frozen=True)
class Column:
    """A table column: the summary key, its header, and how its value is printed."""

    key: str
    header: str
    digits: int = 4
    scale: float = 1.0

    def text(self, value: Any) -> str:
        """The cell's text, as the terminal table prints it ("-" for no value)."""
        if value is None:
            return "-"
        if isinstance(value, int) and self.digits == 0:
            return str(value)
        return f"{value * self.scale:.{self.digits}f}"


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and the summary key and exact value it shows."""

    text: str
    key: str = ""
    value: str = ""  # the JSON of the exact value, for machines (data-value)
    header: str = ""


def _metric_column(key: str) -> Column:
    if key in _HEADERS:
        return Column(key, _HEADERS[key])
    if key in _PERCENT or key.startswith("prec@"):
        return Column(key, _PERCENT.get(key, "P@" + key[5:]), 2, 100.0)
    return Column(key, key)


def rank_key(summaries: Sequence[Mapping[str, Any]]) -> str:
    """What galleries and the compare view rank by: ``rmi``, or ``iou`` where a run has no
    SeLo metrics (``--metrics rrsis``), as ``selo-metrics compare`` does."""
    return "rmi" if all("selo" in s.get("metrics", ["selo"]) for s in summaries) else "iou"


def columns(summaries: Sequence[Mapping[str, Any]]) -> list[Column]:
    """The table's columns for these summaries: their metrics, then maps, failed, s/map.

    Examples
    --------
    >>> [c.header for c in columns([{"rmi": 0.5, "rsu": 0.5, "ras": 0.1, "rda": 0.4}])]
    ['↑Rmi', '↑Rsu', '↓Ras', '↑Rda', 'maps', 'failed', 's/map']
    """
    keys: list[str] = []
    for s in summaries:
        keys += [k for k in metric_keys(s) if k not in keys]
    keys = metric_keys(dict.fromkeys(keys, 0.0))  # one order over every run
    return [
        *(_metric_column(k) for k in keys),
        Column("count", "maps", 0),
        Column("failed", "failed", 0),
        Column("seconds_per_map", "s/map", 3),
    ]


def table_row(name: str, stats: Mapping[str, Any], cols: Sequence[Column]) -> list[Cell]:
    """One table row: the name, then a cell per column.

    Examples
    --------
    >>> cols = columns([{"rmi": 0.5}])
    >>> [c.text for c in table_row("A", {"rmi": 0.5, "count": 2, "failed": 0,
    ...                                  "seconds_per_map": 0.25}, cols)]
    ['A', '0.5000', '2', '0', '0.250']
    """
    return [
        Cell(name),
        *(Cell(c.text(stats.get(c.key)), c.key, json.dumps(stats.get(c.key))) for c in cols),
    ]


@dataclass
class GalleryItem:
    """One sample of a gallery: its row, and its thumbnail once drawn."""

    index: int
    id: str
    query: str
    cells: list[Cell]
    map: str | None = None
    overlay: str | None = None
    thumb: str = ""  # a data: URI
    thumb_note: str = ""  # why there is no thumbnail, or where it came from


@dataclass
class RunView:
    """One run, ready to render."""

    name: str
    path: Path
    run: LoadedRun
    facts: list[tuple[str, str]] = field(default_factory=list)
    fingerprint: str | None = None  # of the test set, from run.json
    rank: str = "rmi"  # what the gallery ranks by
    worst: list[GalleryItem] = field(default_factory=list)
    best: list[GalleryItem] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return self.run.summary

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The first :data:`MAX_FAILURES` failures of the summary."""
        return self.summary.get("failures", [])[:MAX_FAILURES]

    @property
    def failure_count(self) -> int:
        return len(self.summary.get("failures", []))


def _settings(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _facts(
    path: Path, summary: Mapping[str, Any], settings: Mapping[str, Any]
) -> list[tuple[str, str]]:
    run = summary.get("run", {})
    written = dt.datetime.fromtimestamp((path / "summary.json").stat().st_mtime, dt.timezone.utc)
    facts = [
        ("run directory", str(path.resolve())),
        ("convention", str(run.get("convention", settings.get("convention", "?")))),
        ("parameters", json.dumps(run.get("params", settings.get("params", {})))),
        ("selo-metrics version", str(run.get("selo_metrics_version", "?"))),
        ("test-set fingerprint", str(settings.get("fingerprint", "?"))),
        (
            "samples",
            f"{summary.get('count')} in the run, "
            f"{run.get('samples_in_test_set', '?')} in the test set"
            + (f" (limit {run['limit']})" if run.get("limit") is not None else ""),
        ),
        ("annotations", str(run.get("anno") or "-")),
        ("maps directory", str(run.get("maps_dir") or "-")),
        ("summary written", written.strftime("%Y-%m-%d %H:%M:%S UTC")),
        (
            "last invocation",
            f"{run.get('wall_seconds_this_invocation', 0.0):.1f} s wall, {run.get('backend', '?')}",
        ),
        (
            "metrics time",
            f"{summary.get('seconds_total') or 0.0:.1f} s in all, "
            f"{summary.get('seconds_per_map') or 0.0:.3f} s per map",
        ),
    ]
    if summary.get("pending"):
        facts.append(("pending", f"{summary['pending']} sample(s) not scored yet"))
    return facts


def load_views(run_dirs: Sequence[str | Path]) -> list[RunView]:
    """Read the run directories (``selo_metrics.load_run``); name them like ``compare``.

    Raises
    ------
    RunDirError
        A directory is not a finished run.
    """
    views = [RunView(Path(d).resolve().name or str(d), Path(d), load_run(d)) for d in run_dirs]
    if len({v.name for v in views}) < len(views):  # two runs named alike: their paths
        for v in views:
            v.name = str(v.path)
    for v in views:
        settings = _settings(v.path)
        v.fingerprint = settings.get("fingerprint")
        v.facts = _facts(v.path, v.summary, settings)
    return views


def _card_columns(run: LoadedRun) -> list[Column]:
    # a card shows the sample's metrics; I and U are pixel counts, left to the rows
    return [_metric_column(k) for k in run.row_metric_keys if k not in ("inter", "union")]


def _item(row: Mapping[str, Any], cols: Sequence[Column]) -> GalleryItem:
    return GalleryItem(
        index=int(row["index"]),
        id=str(row.get("id")),
        query=str(row.get("query") or ""),
        cells=[
            Cell(c.text(row.get(c.key)), c.key, json.dumps(row.get(c.key)), c.header) for c in cols
        ],
        map=row.get("map"),
        overlay=row.get("overlay"),
    )


def gallery(
    run: LoadedRun, n: int, key: str = "rmi"
) -> tuple[list[GalleryItem], list[GalleryItem]]:
    """The ``n`` worst and the ``n`` best scored samples by ``key`` (no sample in both).

    Ties go to the lower index. With fewer than ``2 n`` scored samples, the worst list
    is full and the best list holds the rest.

    Examples
    --------
    >>> rows = [{"index": i, "id": str(i), "rmi": r} for i, r in enumerate([.5, .9, .1])]
    >>> worst, best = gallery(LoadedRun({"rmi": 0.5}, rows), 2)
    >>> [w.id for w in worst], [b.id for b in best]
    (['2', '0'], ['1'])
    """
    cols = _card_columns(run)
    scored = sorted(
        (r for r in run.rows if r.get("error") is None and r.get(key) is not None),
        key=lambda r: (r[key], r["index"]),
    )
    worst = scored[:n]
    rest = scored[len(worst) :]
    best = sorted(rest, key=lambda r: (-r[key], r["index"]))[:n]
    return [_item(r, cols) for r in worst], [_item(r, cols) for r in best]


@dataclass
class CompareItem:
    """A sample scored in every run: its Rmi spread and each run's gallery item."""

    id: str
    query: str
    spread: float
    items: list[GalleryItem]


def compare_items(views: Sequence[RunView], n: int) -> list[CompareItem]:
    """The ``n`` samples (matched by id) whose Rmi differs most between the runs.

    The same selection as ``selo-metrics compare``: samples scored in every run, by
    decreasing spread (max - min), ties by id; by IoU when a run has no SeLo metrics.
    The cards show the values as that command prints them (4 decimals).
    """
    if len(views) < 2 or n <= 0:
        return []
    key = rank_key([v.summary for v in views])
    cols = [Column(key, _HEADERS.get(key, "IoU"))]
    by_id: dict[str, dict[int, Mapping[str, Any]]] = {}
    for k, v in enumerate(views):
        for row in v.run.rows:
            if row.get("error") is None and row.get(key) is not None:
                by_id.setdefault(str(row.get("id")), {})[k] = row
    common = [
        (sid, [rows[k] for k in range(len(views))])
        for sid, rows in by_id.items()
        if len(rows) == len(views)
    ]

    def spread(rows: list[Mapping[str, Any]]) -> float:
        return max(r[key] for r in rows) - min(r[key] for r in rows)

    common.sort(key=lambda it: (-spread(it[1]), it[0]))
    return [
        CompareItem(
            sid, str(rows[0].get("query") or ""), spread(rows), [_item(r, cols) for r in rows]
        )
        for sid, rows in common[:n]
    ]
