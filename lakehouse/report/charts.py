"""The report's charts: Vega-Lite specifications built with altair from the figures' rows.

Each function takes a figure's rows (already aggregated by SQL) and returns a chart, or None when
the window holds nothing to draw. Rates are fractions (0..1) shown as percentages.
"""

from __future__ import annotations

from typing import Any

import altair as alt

HEIGHT = 220  # width: the chart's box (Vega-Lite "container"), so the page fits any screen
LABEL_ROOM = 24  # pixels at each end of a time axis: half its widest label ("Wed 30", "Sep 28")
Rows = list[dict[str, Any]]


def _chart(rows: Rows, title: str) -> alt.Chart:
    return alt.Chart(alt.Data(values=rows), title=title, width="container", height=HEIGHT)


def _time(field: str, title: str) -> alt.X:
    """A time axis whose labels stay inside the chart: a day's bar ends a day after its tick, so the last
    tick sits a bar's width before the range's end and its label (``Mon 07``, centred on it) was drawn
    past the chart's box; the scale's padding leaves room for half a label at each end."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(padding=LABEL_ROOM))


def _rate(field: str, title: str) -> alt.Y:
    """A rate (0..1) on a fixed 0-100 % axis, so charts side by side compare at a glance."""
    return alt.Y(f"{field}:Q", title=title, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))


def _rate_by_period(
    rows: Rows, title: str, field: str, axis: str, tooltip: list[Any], **encoding: Any
) -> alt.Chart | None:
    """A rate over time, by day or by week as the SQL bucketed it (``period``, ``bucket``: sparse days
    are rolled up into weeks, so the line reads instead of zigzagging)."""
    if not rows:
        return None
    bucket = rows[0]["bucket"]
    tooltip = [alt.Tooltip("period:T", title=bucket), *tooltip, alt.Tooltip(f"{field}:Q", format=".1%")]
    return (
        _chart(rows, f"{title}, by {bucket}")
        .mark_line(point=True)
        .encode(x=_time("period", bucket), y=_rate(field, axis), tooltip=tooltip, **encoding)
    )


def pass_rate_by_period(rows: Rows) -> alt.Chart | None:
    model = alt.Color("model:N", title="final model")
    tooltip = ["model:N", "runs:Q", "passed:Q"]
    return _rate_by_period(
        rows, "Pass rate of each final model", "pass_rate", "pass rate", tooltip, color=model
    )


class Single:
    """A figure with one category: shown as its label and value, not as a lone bar."""

    def __init__(self, title: str, label: str, shown: str) -> None:
        self.title, self.label, self.shown = title, label, shown


def _single_or(rows: Rows, title: str, category: str, value: str, rate: bool = False) -> Single | None:
    if len(rows) != 1:
        return None
    number = rows[0][value]
    return Single(title, str(rows[0][category]), f"{number:.1%}" if rate else f"{number:,} {value}")


def _stacked_by_day(
    rows: Rows, title: str, value: str, color: alt.Color, tooltip: list[Any]
) -> alt.Chart | None:
    if not rows:
        return None
    return (
        _chart(rows, title)
        .mark_bar()
        .encode(
            x=_time("day", "day"),
            y=alt.Y(f"{value}:Q", title=value.replace("total_", ""), stack="zero"),
            color=color,
            tooltip=tooltip,
        )
    )


def runs_by_day(rows: Rows) -> alt.Chart | None:
    outcome = alt.Color(
        "outcome:N", scale=alt.Scale(domain=["passed", "not passed"], range=["#4c9a2a", "#d1495b"])
    )
    return _stacked_by_day(rows, "Runs per day", "runs", outcome, ["day:T", "outcome:N", "runs:Q"])


def _rate_by_model(rows: Rows, field: str, title: str, axis: str) -> alt.Chart | Single | None:
    rows = [r for r in rows if r.get(field) is not None]
    if not rows:
        return None
    single = _single_or(rows, title, "local_model", field, rate=True)
    if single:
        return single
    return (
        _chart(rows, title)
        .mark_bar()
        .encode(
            x=alt.X("local_model:N", title="local model", sort="-y"),
            y=_rate(field, axis),
            tooltip=[
                "local_model:N",
                "runs:Q",
                "escalated:Q",
                "recovered:Q",
                alt.Tooltip(f"{field}:Q", format=".1%"),
            ],
        )
    )


def escalation_rate(rows: Rows) -> alt.Chart | Single | None:
    return _rate_by_model(rows, "escalation_rate", "Escalation rate by local model", "runs escalated")


def recovery_rate(rows: Rows) -> alt.Chart | Single | None:
    return _rate_by_model(rows, "recovery_rate", "Escalations that recovered, by local model", "recovered")


def token_spend(rows: Rows) -> alt.Chart | None:
    tooltip = [
        "day:T",
        "source:N",
        "model:N",
        "calls:Q",
        "prompt_tokens:Q",
        "completion_tokens:Q",
        "total_tokens:Q",
    ]
    title = "Tokens by model and day"  # replays' and traced calls; short enough for a phone
    return _stacked_by_day(rows, title, "total_tokens", alt.Color("model:N"), tooltip)


def cost(rows: Rows) -> alt.Chart | None:
    priced = [r for r in rows if r["cost_usd"] is not None]
    tooltip = [
        "day:T",
        "source:N",
        "model:N",
        "calls:Q",
        "unpriced_calls:Q",
        alt.Tooltip("cost_usd:Q", format="$.4f"),
    ]
    title = "Cost (USD) by model and day"  # priced calls: replays', traced and logged
    return _stacked_by_day(priced, title, "cost_usd", alt.Color("model:N"), tooltip)


def latency(rows: Rows) -> alt.Chart | None:
    if not rows:
        return None
    return (
        _chart(rows, "Call latency by model (p50 and p95)")
        .transform_fold(["p50_ms", "p95_ms"], as_=["quantile", "ms"])
        .mark_bar()
        .encode(
            x=alt.X("model:N", title="model"),
            xOffset="quantile:N",
            y=alt.Y("ms:Q", title="milliseconds"),
            color=alt.Color("quantile:N", title=""),
            tooltip=["model:N", "quantile:N", alt.Tooltip("ms:Q", format=",.0f"), "calls:Q"],
        )
    )


def _horizontal(rows: Rows, title: str, label: str, value: str, color: str | None = None) -> alt.Chart:
    encoding: dict[str, Any] = {
        # labels up to 200 px (the tooltip has them whole) and a one-column legend: on a phone the plot and
        # its legend, which start where the labels end, still fit the box
        "y": alt.Y(f"{label}:N", title=None, sort="-x", axis=alt.Axis(labelLimit=200)),
        "x": alt.X(f"{value}:Q", title=value.replace("_", " ")),
        "tooltip": [f"{label}:N", f"{value}:Q"] + ([f"{color}:N"] if color else []),
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N", legend=alt.Legend(columns=1))
    return _chart(rows, title).mark_bar().encode(**encoding)


def failure_reasons(rows: Rows) -> alt.Chart | Single | None:
    title = "Why runs did not pass (top reasons)"
    return _single_or(rows, title, "reason", "runs") or (
        _horizontal(rows, title, "reason", "runs") if rows else None
    )


def evidence_by_kind(rows: Rows) -> alt.Chart | None:
    tooltip = ["day:T", "kind:N", "records:Q", "passed:Q", "failed:Q"]
    return _stacked_by_day(rows, "Evidence by kind and day", "records", alt.Color("kind:N"), tooltip)


def quarantine(rows: Rows) -> alt.Chart | None:
    return (
        _horizontal(rows, "Open quarantine by stream and reason", "reason", "lines", color="stream")
        if rows
        else None
    )


def citations(rows: Rows) -> alt.Chart | None:
    tooltip = ["runs_with_playbooks:Q", "citing_runs:Q"]
    return _rate_by_period(
        rows, "Answers that cite a retrieved playbook", "citation_rate", "citing runs", tooltip
    )


def top_playbooks(rows: Rows) -> alt.Chart | Single | None:
    title = "Most retrieved playbooks"
    return _single_or(rows, title, "title", "retrievals") or (
        _horizontal(rows, title, "title", "retrievals") if rows else None
    )


def comparison(report: dict[str, Any]) -> alt.Chart:
    rows = [
        {"label": f"{report['base']} (base)", "pass_rate": report["base_pass_rate"]},
        {"label": f"{report['candidate']} (candidate)", "pass_rate": report["candidate_pass_rate"]},
    ]
    return (
        _chart(rows, f"Pass rate on the {report['pairs']:,} paired tasks")
        .mark_bar()
        .encode(
            x=alt.X("label:N", title=None, sort=None),
            y=_rate("pass_rate", "pass rate"),
            tooltip=["label:N", alt.Tooltip("pass_rate:Q", format=".1%")],
        )
    )


# The report's charts in page order: (figure the rows come from, chart builder, section).
CHARTS = [
    ("runs_by_day", runs_by_day, "Runs"),
    ("pass_rate_by_period_and_model", pass_rate_by_period, "Runs"),
    ("escalation_rate_by_model", escalation_rate, "Escalation"),
    ("escalation_rate_by_model", recovery_rate, "Escalation"),
    ("token_spend_by_model_and_day", token_spend, "Cost and latency"),
    ("cost_by_model_and_day", cost, "Cost and latency"),
    ("latency_by_model", latency, "Cost and latency"),
    ("top_failure_reasons", failure_reasons, "Failures"),
    ("evidence_by_kind_and_day", evidence_by_kind, "Evidence and quarantine"),
    ("quarantine_by_stream_and_reason", quarantine, "Evidence and quarantine"),
    ("citations_by_period", citations, "Retrieval"),
    ("top_playbooks", top_playbooks, "Retrieval"),
]
