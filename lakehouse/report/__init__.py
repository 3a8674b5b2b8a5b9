"""The offline HTML report (``lakehouse report``): run history, evidence and quarantine in charts.

- ``figures``: the report's SQL (named queries and ``sql/report``) run on the catalog over a window of days;
- ``charts``: Vega-Lite charts (altair) built from those aggregated rows;
- ``page``: one self-contained HTML file, the Vega bundle inlined, nothing fetched when opened.

Offers :func:`write` (figures, page, atomic write). Uses catalog (SQL, stats, compare) and lake (``--lake``); nothing above.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout
from lakehouse.report.figures import Figures, collect

__all__ = ["Figures", "collect", "default_path", "write"]


def default_path(layout: Layout) -> Path:
    return layout.data / "report.html"


def write(
    layout: Layout,
    output: Path | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    compare_labels: tuple[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    on_lake: bool = False,
) -> tuple[Path, Figures]:
    """Compute the figures, render the page and write it (replaced atomically); its path and figures."""
    figures = collect(layout, since, until, compare_labels, progress, on_lake)
    if progress:
        progress("page")
    # imported here: altair (~0.2 s) is for the page only, and every CLI command imports this package
    from lakehouse.report import page

    target = output or default_path(layout)
    atomic_write(target, page.render(figures, str(layout.root)).encode("utf-8"))
    return target, figures
