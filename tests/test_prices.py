"""The price table: data/prices.csv read as people write it, `lakehouse prices`, and cost_usd by hand."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from otlp_support import query
from support import invoke, write_stream

from lakehouse.catalog import prices
from lakehouse.core.errors import UsageError
from lakehouse.core.paths import Layout

pytestmark = pytest.mark.fast

price_rows = st.lists(
    st.builds(
        prices.Price,
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
            min_size=1,
            max_size=12,
        ),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1)),
    ),
    max_size=6,
    unique_by=lambda p: (p.model, p.valid_from),
)


@settings(max_examples=200, deadline=None)
@given(rows=price_rows)
def test_what_the_file_writes_reads_back_the_same(
    rows: list[prices.Price], tmp_path_factory: pytest.TempPathFactory
) -> None:
    layout = Layout(tmp_path_factory.mktemp("prices"))
    layout.data.mkdir(parents=True, exist_ok=True)
    prices.write(layout, rows)
    assert prices.read(layout) == sorted(rows, key=lambda p: (p.model, p.valid_from))


def test_a_hand_written_file_reads_as_people_write_it() -> None:
    text = '\ufeffModel, input_usd_per_mtok ,output_usd_per_mtok,valid_from\r\ngpt-4o,$2.50,"10",\r\n\r\nqwen,0,0.5,2026-12-01\r\n'
    assert prices.parse(text) == [
        prices.Price("gpt-4o", 2.5, 10.0, prices.ALWAYS),
        prices.Price("qwen", 0.0, 0.5, date(2026, 12, 1)),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "model,price\nx,1\n",
            "the first line must be model,input_usd_per_mtok,output_usd_per_mtok,valid_from",
        ),
        ("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nx,1,2\n", "prices.csv:2: 3 fields"),
        (
            "model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nx,-1,2,\n",
            "prices.csv:2: '-1' is not a price",
        ),
        ("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nx,1,free,\n", "'free' is not a price"),
        ("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nx,1,2,12/01/2026\n", "is not a day"),
        (
            "model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nx,1,2,\nx,3,4,\n",
            "prices.csv:3: x has two prices",
        ),
        ("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\n,1,2,\n", "no model"),
    ],
)
def test_a_malformed_file_names_its_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=None) as caught:
        prices.parse(text)
    assert message in str(caught.value)


def runs_with_tokens(layout: Layout) -> None:
    """Two logged model calls (model_calls stream) and two replay runs, on 2026-11-30 and 2026-12-02."""
    write_stream(
        layout,
        "model_calls",
        [
            {
                "call_id": "c1",
                "ts": "2026-11-30T10:00:00Z",
                "model": "m",
                "prompt_tokens": 1000,
                "completion_tokens": 500,
                "status": "ok",
            },
            {
                "call_id": "c2",
                "ts": "2026-12-02T10:00:00Z",
                "model": "m",
                "prompt_tokens": 1000,
                "completion_tokens": 500,
                "status": "ok",
            },
            {
                "call_id": "c3",
                "ts": "2026-12-02T10:00:00Z",
                "model": "unpriced",
                "prompt_tokens": 10,
                "status": "ok",
            },
        ],
    )


def test_prices_give_cost_usd_by_hand_with_a_price_change_and_null_where_unknown(
    runner: CliRunner, layout: Layout, tmp_path: Path
) -> None:
    root = str(layout.root)
    runs_with_tokens(layout)
    assert invoke(runner, "materialize", "--root", root).exit_code == 0
    empty = invoke(runner, "prices", "--root", root)
    assert empty.exit_code == 0 and "no prices yet" in empty.stderr
    assert (
        invoke(runner, "prices", "set", "m", "--input", "1", "--output", "2", "--root", root).exit_code == 0
    )
    changed = invoke(
        runner, "prices", "set", "m", "--input", "3", "--output", "4", "--from", "2026-12-01", "--root", root
    )
    assert changed.exit_code == 0 and "2026-12-01" in changed.stdout
    cost = {
        r["evidence_id"][-2:]: r
        for r in query(
            layout.root,
            "SELECT task_id, model, cost_usd, right(evidence_id, 2) AS x, evidence_id FROM model_call_evidence",
        )
    }
    by_model_day = {
        (r["model"], str(r["day"])): r
        for r in query(layout.root, "SELECT model, day, cost_usd FROM model_call_evidence")
    }
    assert by_model_day[("m", "2026-11-30")]["cost_usd"] == pytest.approx((1000 * 1 + 500 * 2) / 1e6)
    assert by_model_day[("m", "2026-12-02")]["cost_usd"] == pytest.approx((1000 * 3 + 500 * 4) / 1e6)
    assert by_model_day[("unpriced", "2026-12-02")]["cost_usd"] is None  # unknown, never 0
    assert len(cost) == 3

    listed = invoke(runner, "prices", "--json", "--root", root)
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {"model": "m", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0, "valid_from": None},
        {"model": "m", "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 4.0, "valid_from": "2026-12-01"},
    ]
    daily = invoke(runner, "query", "cost_by_model_and_day", "--format", "jsonl", "--root", root)
    rows = {(r["day"], r["model"]): r for r in map(json.loads, daily.stdout.splitlines())}
    assert (
        rows[("2026-12-02", "unpriced")]["cost_usd"] is None
        and rows[("2026-12-02", "unpriced")]["unpriced_calls"] == 1
    )
    assert (
        rows[("2026-11-30", "m")]["cost_usd"] == pytest.approx(0.002)
        and rows[("2026-11-30", "m")]["source"] == "logged"
    )


def test_a_hand_edit_reaches_the_catalog_on_its_next_write_and_a_bad_one_is_refused(
    runner: CliRunner, layout: Layout
) -> None:
    root = str(layout.root)
    runs_with_tokens(layout)
    assert invoke(runner, "materialize", "--root", root).exit_code == 0
    cost = "SELECT cost_usd FROM model_call_evidence WHERE model = 'unpriced'"
    layout.prices.write_text("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nunpriced,100,0,\n")
    # Read before the next write: the old costs, and every reader says so (reading never writes).
    read = invoke(runner, "sql", cost, "--root", root, "--format", "jsonl")
    assert read.exit_code == 0 and json.loads(read.stdout) == {"cost_usd": None}
    assert "prices.csv changed since the catalog loaded it" in read.stderr and "lakehouse sync" in read.stderr
    named = invoke(runner, "query", "cost_by_model_and_day", "--root", root)
    assert named.exit_code == 0 and "prices.csv changed" in named.stderr
    assert "BEHIND: prices.csv changed" in invoke(runner, "stats", "--root", root).stdout
    page = layout.root / "r.html"
    report = invoke(runner, "report", "--root", root, "--output", str(page))
    assert report.exit_code == 0 and "prices.csv changed" in report.stderr
    assert 'data-warning="prices"' in page.read_text()
    synced = invoke(runner, "sync", "--root", root)
    assert synced.exit_code == 0 and "data/prices.csv loaded" in synced.stderr
    assert query(layout.root, cost) == [{"cost_usd": 0.001}]
    read = invoke(runner, "sql", cost, "--root", root)
    assert (
        "prices.csv" not in read.stderr
        and "mirror            up to date" in invoke(runner, "stats", "--root", root).stdout
    )
    invoke(runner, "report", "--root", root, "--output", str(page))
    assert 'data-warning="prices"' not in page.read_text()
    layout.prices.write_text("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nunpriced,lots,0,\n")
    listed = invoke(runner, "prices", "--root", root)
    assert listed.exit_code == 2 and "prices.csv:2: 'lots' is not a price" in listed.stderr
    bad_set = invoke(runner, "prices", "set", "x", "--input", "-1", "--output", "1", "--root", root)
    assert bad_set.exit_code == 2 and "Traceback" not in bad_set.stderr


def test_a_catalog_without_its_meta_table_still_answers_and_says_to_sync(
    runner: CliRunner, layout: Layout
) -> None:
    """An analyst who dropped catalog_meta by hand: reads go on (prices unknown to be current, so said
    stale), and sync makes it again."""
    root = str(layout.root)
    runs_with_tokens(layout)
    assert invoke(runner, "materialize", "--root", root).exit_code == 0
    assert invoke(runner, "sql", "--write", "DROP TABLE catalog_meta", "--root", root).exit_code == 0
    read = invoke(runner, "sql", "SELECT count(*) AS n FROM model_call_evidence", "--root", root)
    assert read.exit_code == 0 and "lakehouse sync" in read.stderr, read.stderr
    assert "BEHIND" in invoke(runner, "stats", "--root", root).stdout
    assert invoke(runner, "sync", "--root", root).exit_code == 0
    assert invoke(runner, "sql", "SELECT 1", "--root", root).stderr == ""
