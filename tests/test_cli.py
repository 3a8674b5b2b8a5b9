"""The command line: one-line errors with exit codes, data on stdout, messages on stderr."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import invoke, lakehouse_process, write_stream

from lakehouse.core.paths import Layout

pytestmark = pytest.mark.fast


def test_materialize_json_prints_the_receipt_on_stdout(runner: CliRunner, layout: Layout) -> None:
    write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": "c1"}])
    result = invoke(runner, "materialize", "--root", str(layout.root), "--json")
    assert result.exit_code == 0
    receipt = json.loads(result.stdout)
    assert receipt["schema"] == "materialize_receipt.v1" and receipt["totals"]["emitted"] == 1
    assert "materialized" not in result.stdout


def test_materialize_without_json_reports_on_stderr(runner: CliRunner, layout: Layout) -> None:
    write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": "c1"}, b"bad\n"])
    result = invoke(runner, "materialize", "--root", str(layout.root))
    assert result.exit_code == 0 and result.stdout == ""
    assert "materialized 1 new evidence records from 2 new lines" in result.stderr
    assert "1 quarantined" in result.stderr


def test_root_from_environment(runner: CliRunner, layout: Layout) -> None:
    write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": "c1"}])
    result = runner.invoke(
        __import__("lakehouse.cli").cli.cli,
        ["materialize", "--json"],
        env={"LH_DISTILL_ROOT": str(layout.root)},
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["root"] == str(layout.root)


def test_missing_root_is_one_line_exit_4(tmp_path: Path) -> None:
    proc = lakehouse_process("materialize", "--root", str(tmp_path / "nowhere"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert err.decode() == f"error: root {tmp_path / 'nowhere'} does not exist\n"
    assert out == b""


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_root_is_one_line_exit_4(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    tmp_path.chmod(0o500)
    proc = lakehouse_process("materialize", "--root", str(tmp_path))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4 and err.decode().startswith("error: root")


def test_root_that_is_a_file_is_one_line_exit_4(tmp_path: Path, runner: CliRunner) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = invoke(runner, "materialize", "--root", str(target))
    assert result.exit_code in (2, 4)
    assert "Traceback" not in result.output


def test_unknown_option_is_a_usage_error(runner: CliRunner) -> None:
    result = invoke(runner, "materialize", "--frobnicate")
    assert result.exit_code == 2 and "No such option" in result.stderr


def test_bad_transform_is_exit_2_without_traceback(runner: CliRunner, layout: Layout, tmp_path: Path) -> None:
    extra = tmp_path / "t"
    extra.mkdir()
    (extra / "x.sql").write_text("/* x */\n-- kind: x\nSELECT line_no FROM source\n")
    result = invoke(runner, "materialize", "--root", str(layout.root), "--transforms", str(extra))
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: transform x.sql: missing '-- stream:' header"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = lakehouse_process("--debug", "materialize", "--root", str(tmp_path / "nowhere"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" in err.decode() and "RootError" in err.decode()


def test_demo_is_deterministic_and_summarises(runner: CliRunner, tmp_path: Path) -> None:
    roots = [tmp_path / "a", tmp_path / "b"]
    outputs = []
    for root in roots:
        root.mkdir()
        result = invoke(runner, "demo", "--root", str(root), "--seed", "5", "--lines", "600")
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout.replace(str(root), "ROOT"))
        assert (root / "data" / "report.html").stat().st_size > 100_000  # the report, with the Vega bundle
    assert outputs[0] == outputs[1]
    assert "ROOT/data/report.html" in outputs[0]
    assert "Evidence by kind" in outputs[0] and "Quarantined lines" in outputs[0]
    for reason in (
        "invalid JSON",
        "not a JSON object",
        "missing ts",
        "unparseable ts",
        "expected boolean",
        "invalid UTF-8",
        "line too long",
    ):
        assert reason in outputs[0]
    streams = sorted(p.name for p in (roots[0] / "data" / "_kb").glob("*.jsonl"))
    assert (
        len([s for s in streams if s not in ("quarantine.jsonl", "receipts.jsonl", "rag_corpus.jsonl")]) == 12
    )
    assert (roots[0] / "data" / "_kb" / "rag_corpus.jsonl").exists()  # playbooks distilled into the corpus
    again = invoke(runner, "demo", "--root", str(roots[0]), "--seed", "5", "--lines", "600")
    assert "0 written, 12 unchanged" in again.stderr
    assert "materialized 5 new evidence records from 5 new lines" in again.stderr  # the first demo's replays


def test_the_demo_history_ends_on_the_day_it_first_ran(tmp_path: Path) -> None:
    from lakehouse import demo
    from lakehouse.demo.examples import LEGACY_END_DAY

    layout = Layout(tmp_path / "first")
    first = demo.write_demo_streams(layout, lines=600, seed=5, today="2026-11-30")
    assert len(first.written) == 12
    days = set()
    for line in layout.stream("model_calls").read_text().splitlines():
        with contextlib.suppress(ValueError, KeyError):  # the demo's bad line is not JSON
            days.add(json.loads(line)["ts"][:10])
    assert max(days) == "2026-11-30" and min(days) >= "2026-11-02"  # the four weeks before the first run
    later = demo.write_demo_streams(layout, lines=600, seed=5, today="2026-12-07")
    assert (later.written, len(later.unchanged)) == ([], 12)  # a later run keeps the first run's history
    legacy = Layout(tmp_path / "older")  # written before the history followed the calendar
    legacy.kb.mkdir(parents=True)
    for stream in first.written:
        legacy.stream(stream).write_bytes(demo.stream_bytes(stream, 600, 5, LEGACY_END_DAY))
    kept = demo.write_demo_streams(legacy, lines=600, seed=5, today="2026-12-07")
    assert (kept.written, len(kept.unchanged)) == ([], 12)


def test_demo_refuses_to_overwrite_other_data(runner: CliRunner, layout: Layout) -> None:
    write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": "mine"}])
    result = invoke(runner, "demo", "--root", str(layout.root))
    assert result.exit_code == 2 and "use --force" in result.stderr


def test_compact_merges_parts_and_keeps_records(runner: CliRunner, layout: Layout) -> None:
    for i in range(3):
        write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": f"c{i}"}])
        assert invoke(runner, "materialize", "--root", str(layout.root)).exit_code == 0
    assert len(list(layout.parquet_day("2026-05-01").glob("*.parquet"))) == 3
    result = invoke(runner, "compact", "--root", str(layout.root))
    assert result.exit_code == 0 and "3 parts -> 1" in result.stderr
    import pyarrow.parquet as pq

    [part] = layout.parquet_day("2026-05-01").glob("*.parquet")
    assert sorted(pq.read_table(part).column("evidence_id").to_pylist()).__len__() == 3


def test_rebuild_recreates_parquet_and_catalog_from_jsonl(runner: CliRunner, layout: Layout) -> None:
    write_stream(
        layout, "model_calls", [{"ts": f"2026-05-0{d}T10:00:00Z", "call_id": f"c{d}"} for d in (1, 2)]
    )
    invoke(runner, "materialize", "--root", str(layout.root))
    import shutil

    shutil.rmtree(layout.parquet)
    layout.catalog.unlink()
    result = invoke(runner, "rebuild", "--root", str(layout.root))
    assert result.exit_code == 0 and "rebuilt 2 evidence records in 2 days" in result.stderr
    import duckdb

    con = duckdb.connect(str(layout.catalog), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM evidence").fetchone() == (2,)
    finally:
        con.close()


def test_sync_repairs_a_damaged_catalog(runner: CliRunner, layout: Layout) -> None:
    write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": "c1"}])
    invoke(runner, "materialize", "--root", str(layout.root))
    layout.catalog.write_bytes(b"this is not a duckdb file" * 100)
    result = invoke(runner, "sync", "--root", str(layout.root))
    assert result.exit_code == 0, result.output
    assert "damaged" in result.stderr and "1 Parquet parts; 1 receipts" in result.stderr
    again = invoke(runner, "sync", "--root", str(layout.root))
    assert "0 receipts, 0 quarantined lines added" in again.stderr


def test_every_command_is_loaded_from_the_module_the_group_names() -> None:
    """`lakehouse X` imports only X's module (COMMAND_MODULES): the map names every command, rightly."""
    from lakehouse.cli import cli  # every command module loaded
    from lakehouse.cli.group import COMMAND_MODULES

    assert set(cli.commands) == set(COMMAND_MODULES)
    for name, command in cli.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"lakehouse.cli.{COMMAND_MODULES[name]}", name


def test_materialize_does_not_import_the_gateway_or_the_report(tmp_path: Path) -> None:
    """Not even when it distils playbooks into the corpus: without an embedding model nothing is embedded."""
    from lakehouse.core.paths import open_root
    from lakehouse.demo import synth

    layout = open_root(tmp_path, create=True)
    counts = synth.write_streams(layout.kb, 240, seed=3, end_day="2026-05-02", days=3)
    assert counts["playbooks"] > 0
    code = (
        "import sys; from lakehouse.cli import main; sys.argv = ['lakehouse', 'materialize', '--root', sys.argv[1]]\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('httpx', 'altair', 'lakehouse.replay', 'lakehouse.otlp') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "LH_EMBEDDING_MODEL"}  # no model, whatever the shell's
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    assert "\ndistilled " in f"\n{done.stderr}"  # the corpus add ran
