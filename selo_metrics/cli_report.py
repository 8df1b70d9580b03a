"""``selo-metrics report``: the HTML report of run directories (the ``report`` extra).

    selo-metrics report RUN_DIR [RUN_DIR ...] --out report.html [--gallery N] [--title T]

Exit status: 0 when the page is written; 2 for unusable input (not a finished run
directory, an output path that is a directory) or when jinja2 / matplotlib are missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_report_parser", "report_command"]

_INSTALL = "pip install 'selo-metrics[report]'"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_report_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the ``selo-metrics`` subparsers ``sub``."""
    report = sub.add_parser(
        "report",
        help="a self-contained HTML report of one or more run directories",
        description="Write one self-contained HTML page (no network: styles inline, images "
        "embedded) of run directories: the summary table, per-attribute means, histograms, "
        "a per-sample scatter, the worst and best samples by Rmi, failures and run facts; "
        "with several runs, the samples whose Rmi differs most.",
    )
    report.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="finished run directories (selo-metrics score --out)",
    )
    report.add_argument("--out", required=True, metavar="HTML", help="the page to write")
    report.add_argument(
        "--gallery",
        type=_count,
        default=12,
        metavar="N",
        help="the N worst and N best samples by Rmi of each run, and the N "
        "samples whose Rmi differs most between runs (default 12)",
    )
    report.add_argument("--title", default=None, help="the page title")
    report.add_argument("--no-progress", action="store_true", help="no progress bar")
    report.set_defaults(func=report_command)
    return report


def _error(message: str) -> int:
    print(f"selo-metrics report: error: {message}", file=sys.stderr)
    return 2


def report_command(args: argparse.Namespace) -> int:
    """Build the page; ``selo_metrics.cli.main`` turns a bad run directory into exit 2."""
    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:
        return _error(f"the report needs jinja2 and matplotlib ({exc}): {_INSTALL}")
    from .html import build_report

    out = Path(args.out)
    if out.is_dir():
        return _error(f"--out {out} is a directory; name the HTML file to write")
    if not out.parent.is_dir():
        return _error(f"--out {out}: directory {out.parent} does not exist")
    path = build_report(
        args.runs,
        out,
        gallery_size=args.gallery,
        progress=False if args.no_progress else None,
        title=args.title,
    )
    size = path.stat().st_size
    print(f"{path}: {len(args.runs)} run(s), {size / 1e6:.2f} MB, self-contained", file=sys.stderr)
    print(path)
    return 0
