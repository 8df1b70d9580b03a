"""The HTML report of run directories (``selo-metrics report``; jinja2 and matplotlib).

One self-contained page: styles inline, every image a ``data:`` URI, no script, nothing
fetched. :func:`build_report` writes it; :mod:`~selo_metrics.html.model` holds what the page
shows as plain data, :mod:`~selo_metrics.html.figures` draws the histograms and the scatter,
:mod:`~selo_metrics.html.thumbs` the gallery thumbnails, :mod:`~selo_metrics.html.page`
renders the jinja2 templates of ``templates/``.
"""

from __future__ import annotations

from .page import build_report

__all__ = ["build_report"]
