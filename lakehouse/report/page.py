"""The report page: one self-contained HTML file, the Vega bundle inlined, no request when opened.

Headline figures are ``<dd data-figure="NAME" data-value="RAW">`` (the raw value for tools and
tests, a formatted one for people); each chart is a Vega-Lite specification embedded by
``vegaEmbed`` into its own ``<div class="chart">`` as SVG; the comparison's regressions are a plain
table. Chosen over plotly (BENCHMARKS.md, report): a 0.9 MB page that renders in ~0.9 s against
4.9 MB and ~2 s, with nothing fetched either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import html
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert
from altair.utils._importers import vl_version_for_vl_convert

from lakehouse import __version__
from lakehouse.catalog import prices
from lakehouse.core.errors import StorageError
from lakehouse.core.files import atomic_write
from lakehouse.report import charts
from lakehouse.report.figures import Figures

REGRESSIONS_SHOWN = 50

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1040px; padding: 0 14px; color: #1d2430; }
*, *::before, *::after { box-sizing: border-box; }
h1 { font-size: 22px; margin-bottom: 2px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde3ea; }
.meta { color: #5b6675; margin-top: 0; }
.stale { color: #8a4b00; }
dl.headline { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 16px 0; }
dl.headline div { background: #f3f6f9; border-radius: 6px; padding: 10px 12px; }
dl.headline dt { color: #5b6675; font-size: 12px; } dl.headline dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 18px; }
.chart { min-width: 0; width: 100%; overflow: hidden; }
.table-box { overflow-x: auto; }
.single { padding: 8px 0; } .single h3 { font-size: 13px; margin: 0 0 6px; } .single p { font-size: 16px; margin: 0; }
.empty { color: #5b6675; font-style: italic; padding: 20px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; } td, th { border-bottom: 1px solid #e5e9ee; padding: 4px 6px; text-align: left; }
"""


CACHE_ENV = "XDG_CACHE_HOME"
CHECKSUM_MARK = b"\n/* lakehouse: sha256 "  # the line a cached bundle ends with: its checksum


@functools.cache
def vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script (from the vl-convert wheel: nothing fetched).

    vl-convert builds it anew on every call (~1.5-1.8 s, most of a demo's report), always the same for
    the same versions: it is kept in the user's cache folder (:func:`bundle_cache_dir`) under a name with
    both versions (:func:`bundle_file_name`), followed by its sha256, and built again when that file is
    missing, unreadable or does not match its checksum. Without a cache folder, or one that cannot be
    written, each process builds it, nothing else."""
    folder = bundle_cache_dir()
    cached = folder / bundle_file_name() if folder else None
    if cached:
        bundle = _read_cached(cached)
        if bundle is not None:
            return bundle
    bundle = vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert())
    if cached:
        _keep(cached, bundle)
    return bundle


def _read_cached(cached: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if cached.is_file():  # not a folder or a FIFO that would block
            body, mark, trailer = cached.read_bytes().rpartition(CHECKSUM_MARK)
            if mark and trailer == _trailer(body):
                return body.decode("utf-8")
    return None


def _keep(cached: Path, bundle: str) -> None:
    """Write the bundle with its checksum (whole or not at all) and remove other versions' bundles."""
    with contextlib.suppress(OSError, StorageError):
        cached.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        cached.parent.mkdir(mode=0o700, exist_ok=True)
        atomic_write(cached, cached_form(bundle))
        for other in cached.parent.glob("vega-bundle-*.js"):
            if other.name != cached.name:
                other.unlink(missing_ok=True)


def cached_form(bundle: str) -> bytes:
    """What the cache file holds for a bundle: its bytes, then the line with their sha256."""
    body = bundle.encode("utf-8")
    return body + CHECKSUM_MARK + _trailer(body)


def _trailer(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest().encode("ascii") + b" */\n"


def bundle_file_name() -> str:
    """The cached bundle's name: vl-convert's version (which fixes vega and vega-embed) and Vega-Lite's."""
    return f"vega-bundle-{metadata.version('vl-convert-python')}-{vl_version_for_vl_convert()}.js"


def bundle_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/lakehouse`` (an absolute path only, as the XDG spec says), else
    ``~/.cache/lakehouse``; None without a home directory to put it in."""
    base = os.environ.get(CACHE_ENV, "")
    if os.path.isabs(base):
        return Path(base) / "lakehouse"
    try:
        home = Path.home()
    except RuntimeError:
        return None
    return home / ".cache" / "lakehouse" if home.is_absolute() and home != Path(home.anchor) else None


def _number(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "usd":
        return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"
    return f"{value:,}"


def headline_items(figures: Figures) -> list[tuple[str, str, Any, str]]:
    """(name, label, raw value, shown text) of each headline figure."""
    h = figures.headline
    items = [
        ("runs", "runs", h["runs"], "count"),
        ("pass_rate", "pass rate", h["pass_rate"], "rate"),
        ("escalation_rate", "escalation rate", h["escalation_rate"], "rate"),
        ("recovery_rate", "escalations recovered", h["recovery_rate"], "rate"),
        ("tokens", "tokens", h["tokens"], "count"),
        ("traced_calls", "traced model calls", h["traced_calls"], "count"),
        ("traced_tokens", "traced tokens", h["traced_tokens"], "count"),
        ("cost_usd", "cost of model calls", h["cost_usd"], "usd"),
        ("unpriced_calls", "calls without a price", h["unpriced_calls"], "count"),
        ("evidence_records", "evidence records", h["evidence_records"], "count"),
        ("open_quarantine", "open quarantine", h["open_quarantine"], "count"),
        ("mirror_lines_behind", "log lines not yet in the catalog", figures.mirror_lines_behind, "count"),
    ]
    return [(name, label, raw, _number(raw, kind)) for name, label, raw, kind in items]


def render(figures: Figures, root: str) -> str:
    """The whole page."""
    specs: list[dict[str, Any]] = []
    sections: dict[str, list[str]] = {}
    for figure, build, section in charts.CHARTS:
        chart = build(figures.tables[figure])
        sections.setdefault(section, []).append(_chart_div(chart, specs, figure))
    body = [
        "<h1>Agent runs report</h1>",
        f'<p class="meta">{html.escape(_window_text(figures))} · root {html.escape(root)} · written '
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by lakehouse {__version__}</p>",
        *(
            [f'<p class="meta stale" data-warning="prices">{html.escape(prices.STALE_WARNING)}</p>']
            if figures.prices_stale
            else []
        ),
        '<dl class="headline">',
        *(
            f'<div><dt>{html.escape(label)}</dt><dd data-figure="{name}" data-value="{html.escape(json.dumps(raw))}">'
            f"{html.escape(shown)}</dd></div>"
            for name, label, raw, shown in headline_items(figures)
        ),
        "</dl>",
    ]
    if figures.comparison is not None:
        body += _comparison(figures.comparison, specs)
    for section, divs in sections.items():
        body += [f"<h2>{html.escape(section)}</h2>", '<div class="charts">', *divs, "</div>"]
    spec_json = json.dumps(specs).replace("</", "<\\/")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>lakehouse report</title>",
            f"<style>{STYLE}</style>",
            f"<script>{vega_bundle()}</script>",
            "</head><body>",
            *body,
            "<script>",
            f"const specs = {spec_json};",
            "for (const [id, spec] of specs) {",
            "  vegaEmbed('#' + id, spec, {renderer: 'svg', actions: false}).catch(e => console.error(e));",
            "}",
            "</script>",
            "</body></html>",
        ]
    )


def _chart_div(chart: alt.Chart | charts.Single | None, specs: list[Any], figure: str) -> str:
    if chart is None:
        return f'<div class="empty" data-figure="{figure}">No data for this chart in the window.</div>'
    if isinstance(chart, charts.Single):
        return (
            f'<div class="single" data-figure="{figure}"><h3>{html.escape(chart.title)}</h3>'
            f"<p><strong>{html.escape(chart.label)}</strong>: {html.escape(chart.shown)}</p></div>"
        )
    chart_id = f"chart-{len(specs) + 1}"
    spec = chart.to_dict()
    # Legends below the plot and never cut ("qwen2.5-cod"): the chart fits its box at any width.
    spec.setdefault("config", {})["legend"] = {"orient": "bottom", "labelLimit": 0, "columns": 2}
    # Titles start at the chart's left edge: centred over a plot pushed right by long axis labels, they ran
    # past the box on a phone.
    spec["config"]["title"] = {"anchor": "start", "frame": "bounds"}
    spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    specs.append([chart_id, spec])
    return f'<div class="chart" id="{chart_id}" data-figure="{figure}"></div>'


def _window_text(figures: Figures) -> str:
    h = figures.headline
    first, last = figures.since or h.get("first_day"), figures.until or h.get("last_day")
    if not (first or last):
        return "no runs yet"
    return f"{first or 'the beginning'} to {last or 'today'}"


def _comparison(report: dict[str, Any], specs: list[Any]) -> list[str]:
    regressions = [t for t in report["tasks"] if t.get("change") == "regression"]
    summary = [
        ("pairs", f"{report['pairs']:,}"),
        ("regressions", f"{report['regressions']:,}"),
        ("fixes", f"{report['fixes']:,}"),
        ("base pass rate", _number(report["base_pass_rate"], "rate")),
        ("candidate pass rate", _number(report["candidate_pass_rate"], "rate")),
        ("McNemar p", "–" if report["mcnemar_p"] is None else f"{report['mcnemar_p']:.3g}"),
    ]
    rows = [
        f"<tr><td>{html.escape(str(t.get('input_task') or ''))[:160]}</td>"
        f"<td>{'' if t.get('retrieval_jaccard') is None else round(t['retrieval_jaccard'], 2)}</td>"
        f"<td>{'yes' if t.get('answer_changed') else 'no'}</td></tr>"
        for t in regressions[:REGRESSIONS_SHOWN]
    ]
    more = len(regressions) - len(rows)
    return [
        f"<h2>Compare: {html.escape(report['candidate'])} against {html.escape(report['base'])}</h2>",
        '<dl class="headline">',
        *(f'<div><dt>{k}</dt><dd data-compare="{k}">{html.escape(v)}</dd></div>' for k, v in summary),
        "</dl>",
        '<div class="charts">',
        _chart_div(charts.comparison(report), specs, "compare"),
        "<div><h3>Regressions</h3><table><tr><th>task</th><th>retrieval overlap</th><th>answer changed</th></tr>",
        *rows,
        "</table>" + (f"<p>… and {more:,} more (lakehouse compare)</p>" if more > 0 else ""),
        "</div></div>",
    ]
