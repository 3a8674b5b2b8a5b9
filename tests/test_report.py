"""lakehouse report: one offline HTML file, opened in a real browser (headless Chromium) with every request blocked.

Needs Debian's chromium and Playwright for Python (the dev extra); without them the browser tests skip,
unless LH_REQUIRE_BROWSER=1 (which .ci/run sets) makes that a failure.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib.metadata import version as metadata_version
from pathlib import Path

import duckdb
import pytest
from support import lakehouse_command

from lakehouse.core.paths import Layout

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART = ".vega-embed svg.marks, .vega-embed canvas.marks"


def chromium() -> str | None:
    return next(
        (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None
    )


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install '.[dev]')"
    if chromium() is None:
        return "no Chromium at /usr/bin/chromium (Debian: apt-get install chromium; .ci/run installs it)"
    return None


def require_browser() -> None:
    missing = browser_missing()
    if missing:
        if os.environ.get("LH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LH_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "root"
    subprocess.run([*lakehouse_command(), "demo", "--root", str(root)], check=True, capture_output=True)
    return root


def write_report(root: Path, *args: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    done = subprocess.run(
        [*lakehouse_command(), "report", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip()), done


def catalog_figures(root: Path, where: str = "TRUE") -> dict[str, object]:
    """The headline figures, computed by the test from the catalog with its own SQL."""
    con = duckdb.connect(str(Layout(root).catalog), read_only=True)
    try:
        runs, passed, escalated, recovered = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE validation_result.passed), "
            "count(*) FILTER (WHERE len(escalation_path) > 1), "
            "count(*) FILTER (WHERE len(escalation_path) > 1 AND validation_result.passed) "
            f"FROM replay_runs WHERE {where}"
        ).fetchone()
        (tokens,) = con.execute(
            "SELECT sum(coalesce(c.prompt_tokens, 0) + coalesce(c.completion_tokens, 0)) "
            f"FROM (SELECT unnest(calls) AS c FROM replay_runs WHERE {where})"
        ).fetchone()
        (quarantined,) = con.execute(
            "SELECT count(*) FROM quarantine WHERE resolved_receipt_id IS NULL"
        ).fetchone()
        calls = con.execute(  # every model call with tokens: replays' and logged ones (the demo traces none)
            "SELECT c.model, c.prompt_tokens, c.completion_tokens "
            f"FROM (SELECT unnest(calls) AS c FROM replay_runs WHERE {where}) "
            "WHERE c.prompt_tokens IS NOT NULL OR c.completion_tokens IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    calls += duckdb.sql(
        f"SELECT model, prompt_tokens, completion_tokens FROM read_parquet('{Layout(root).parquet}/**/*.parquet') "
        "WHERE kind = 'model_call' AND (prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL)"
    ).fetchall()
    with Layout(root).prices.open() as handle:  # the demo's prices hold always: one row a model
        price = {r["model"]: r for r in csv.DictReader(handle)}
    priced = [c for c in calls if c[0] in price]
    cost = sum(
        ((i or 0) * float(price[m]["input_usd_per_mtok"]) + (o or 0) * float(price[m]["output_usd_per_mtok"]))
        / 1e6
        for m, i, o in priced
    )
    evidence = sum(
        pq_rows
        for pq_rows in [
            duckdb.sql(
                f"SELECT count(*) FROM read_parquet('{Layout(root).parquet}/**/*.parquet')"
            ).fetchone()[0]
        ]
    )
    return {
        "runs": runs,
        "pass_rate": passed / runs,
        "escalation_rate": escalated / runs,
        "recovery_rate": recovered / escalated,
        "tokens": int(tokens or 0),
        "evidence_records": evidence,
        "open_quarantine": quarantined,
        "cost_usd": cost,
        "unpriced_calls": len(calls) - len(priced),
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS, headless=True)
        yield launched
        launched.close()


def open_offline(browser: object, page_file: Path) -> tuple[object, list[str], list[str]]:
    """The page opened from disk with every other request aborted: (page, console errors, blocked URLs)."""
    url = page_file.resolve().as_uri()
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    blocked: list[str] = []
    errors: list[str] = []

    def route(request_route: object) -> None:
        if request_route.request.url == url:  # type: ignore[attr-defined]
            request_route.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(request_route.request.url)  # type: ignore[attr-defined]
            request_route.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function(
        f"n => document.querySelectorAll({json.dumps(CHART)}).length >= n",
        arg=len(re.findall(r'class="chart"', page_file.read_text(encoding="utf-8"))),
        timeout=30_000,
    )
    return page, errors, blocked


@pytest.mark.slow
def test_the_report_renders_offline_with_every_chart_and_the_catalogs_headline(
    demo_root: Path, browser: object, tmp_path: Path
) -> None:
    page_file, done = write_report(demo_root, "--compare", "baseline", "candidate")
    assert page_file == Layout(demo_root).data / "report.html"
    assert "report written" in done.stderr
    assert page_file.stat().st_size < 10_000_000
    html = page_file.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']https?://""", html), "the page must not load anything remote"

    page, errors, blocked = open_offline(browser, page_file)
    assert errors == []
    assert blocked == []
    assert page.locator(CHART).count() >= 10  # type: ignore[attr-defined]
    shown = {
        element.get_attribute("data-figure"): json.loads(element.get_attribute("data-value"))
        for element in page.locator("dd[data-figure]").all()  # type: ignore[attr-defined]
    }
    expected = catalog_figures(demo_root)
    for name, value in expected.items():
        assert shown[name] == pytest.approx(value), name
    assert shown["mirror_lines_behind"] == 0
    assert page.locator("[data-compare=regressions]").inner_text() != ""  # type: ignore[attr-defined]
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
    assert shot.stat().st_size > 20_000
    if os.environ.get("LH_REPORT_SCREENSHOT"):  # for a person who wants to look at it
        shutil.copy(shot, os.environ["LH_REPORT_SCREENSHOT"])


FITS = """() => {
    const charts = [...document.querySelectorAll('.chart')].map(box => {
        const svg = box.querySelector('svg'), outer = box.getBoundingClientRect();
        if (!svg) return box.dataset.figure + ': no svg';
        const inner = svg.getBoundingClientRect();
        return inner.left >= outer.left - 1 && inner.right <= outer.right + 1 ? null
            : `${box.dataset.figure}: ${Math.round(inner.width)} px in a ${Math.round(outer.width)} px box`;
    }).filter(Boolean);
    const clipped = [...document.querySelectorAll('dt, dd, h1, h2, td, th, .meta')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.tagName + ': ' + e.textContent.slice(0, 40));
    // a chart's own text (its title, axis and legend labels) drawn past its box is cut off too
    const chartText = [...document.querySelectorAll('.chart svg text')].filter(t => {
        const box = t.closest('.chart').getBoundingClientRect(), r = t.getBoundingClientRect();
        return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1);
    }).map(t => t.closest('.chart').dataset.figure + ': ' + t.textContent.slice(0, 40));
    return {width: document.documentElement.scrollWidth, charts, clipped, chartText};
}"""


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 800), (390, 844)])
def test_the_report_fits_a_desktop_a_laptop_and_a_phone(
    demo_root: Path, browser: object, tmp_path: Path, width: int, height: int
) -> None:
    page_file, _ = write_report(
        demo_root, "--compare", "baseline", "candidate", "--output", str(tmp_path / "r.html")
    )
    context = browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(page_file.resolve().as_uri())
    page.wait_for_selector(CHART)
    page.wait_for_timeout(500)  # charts sized to their boxes
    found = page.evaluate(FITS)
    shot = tmp_path / f"report-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    context.close()
    assert found["width"] <= width, "the page scrolls sideways"
    assert found["charts"] == [], "a chart is wider than its box"
    assert found["clipped"] == [], "text is cut by its box"
    assert found["chartText"] == [], "a chart's text is drawn outside its box"
    assert shot.stat().st_size > 20_000
    if os.environ.get("LH_REPORT_SCREENSHOT"):  # for a person who wants to look at it
        shutil.copy(shot, str(os.environ["LH_REPORT_SCREENSHOT"]).replace(".png", f"-{width}.png"))


def test_a_window_keeps_only_its_days(demo_root: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(Layout(demo_root).catalog), read_only=True)
    (middle,) = con.execute(
        "SELECT strftime(quantile_disc(day, 0.5), '%Y-%m-%d') FROM replay_runs"
    ).fetchone()
    con.close()
    out = tmp_path / "window.html"
    page_file, _ = write_report(demo_root, "--since", middle, "--output", str(out))
    assert page_file == out
    shown = {
        m.group(1): json.loads(m.group(2).replace("&quot;", '"'))
        for m in re.finditer(r'data-figure="(\w+)" data-value="([^"]*)"', out.read_text(encoding="utf-8"))
    }
    expected = catalog_figures(demo_root, f"day >= DATE '{middle}'")
    assert 0 < shown["runs"] == expected["runs"] < catalog_figures(demo_root)["runs"]
    assert shown["pass_rate"] == pytest.approx(expected["pass_rate"])


def test_bad_windows_and_labels_are_one_line_errors(demo_root: Path) -> None:
    for args, message in (
        (["--since", "2026-05-02", "--until", "2026-05-01"], "is after --until"),
        (["--since", "yesterday"], "Invalid value for '--since'"),
        (["--compare", "baseline", "nosuchlabel"], "no runs labelled 'nosuchlabel'"),
    ):
        done = subprocess.run(
            [*lakehouse_command(), "report", "--root", str(demo_root), *args], capture_output=True, text=True
        )
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_a_figure_with_one_category_is_its_line_not_a_lone_bar() -> None:
    from lakehouse.report import charts, page

    one = page._chart_div(
        charts.failure_reasons([{"reason": "empty response", "runs": 3}]), [], "top_failure_reasons"
    )
    assert 'class="single"' in one and "<strong>empty response</strong>: 3 runs" in one
    rate = [{"local_model": "m", "escalation_rate": 0.25, "runs": 4, "escalated": 1, "recovered": 1}]
    assert "<strong>m</strong>: 25.0%" in page._chart_div(
        charts.escalation_rate(rate), [], "escalation_rate_by_model"
    )
    specs: list[object] = []
    two = [{"reason": "a", "runs": 2}, {"reason": "b", "runs": 1}]
    assert (
        'class="chart"' in page._chart_div(charts.failure_reasons(two), specs, "top_failure_reasons")
        and specs
    )


def test_compare_with_one_label_says_it_takes_two(tmp_path: Path) -> None:
    """A hurried `report --compare baseline --root .`: click would take `--root` for the second label and
    then complain of an 'unexpected extra argument (.)'; the one line says what --compare takes."""
    done = subprocess.run(
        [*lakehouse_command(), "report", "--compare", "baseline", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "takes two labels, BASE CANDIDATE: '--root' is an option" in done.stderr, done.stderr


def test_the_vega_bundle_is_read_from_the_users_cache(demo_root: Path, tmp_path: Path) -> None:
    """A report inlines the scripts kept in $XDG_CACHE_HOME/lakehouse (a planted file proves it reads them
    there instead of building them)."""
    from lakehouse.report import page

    planted = tmp_path / "cache" / "lakehouse" / page.bundle_file_name()
    planted.parent.mkdir(parents=True)
    planted.write_bytes(page.cached_form("/* planted */"))
    out = tmp_path / "report.html"
    done = subprocess.run(
        [*lakehouse_command(), "report", "--root", str(demo_root), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr
    assert "<script>/* planted */</script>" in out.read_text(encoding="utf-8")


def test_a_cached_bundle_is_built_once_kept_whole_and_rebuilt_when_it_does_not_match_its_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    from lakehouse.report import page

    builds: list[str] = []

    def build(vl_version: str) -> str:
        builds.append(vl_version)
        return f"/* bundle {len(builds)} \r\n */"  # a CR: what is read back must be the bytes written

    monkeypatch.setattr(vl_convert, "javascript_bundle", build)

    def bundle_with_cache_at(folder: str) -> str:
        monkeypatch.setenv("XDG_CACHE_HOME", folder)
        page.vega_bundle.cache_clear()  # the process keeps its first answer: start afresh
        try:
            return page.vega_bundle()
        finally:
            page.vega_bundle.cache_clear()

    name = page.bundle_file_name()
    assert vl_version_for_vl_convert() in name and metadata_version("vl-convert-python") in name
    cache = tmp_path / "cache"
    kept = cache / "lakehouse" / name
    kept.parent.mkdir(parents=True)
    (kept.parent / "vega-bundle-0.1-v1.js").write_bytes(page.cached_form("an older version's"))
    first = bundle_with_cache_at(str(cache))
    assert builds == [vl_version_for_vl_convert()]
    assert kept.read_bytes() == page.cached_form(first)
    assert [p.name for p in kept.parent.iterdir()] == [name]  # no temporary left, the older version gone
    assert bundle_with_cache_at(str(cache)) == first and len(builds) == 1  # read, not built

    for damaged in (b"", kept.read_bytes()[:-5], kept.read_bytes().replace(b"bundle", b"bungle")):
        kept.write_bytes(damaged)
        assert bundle_with_cache_at(str(cache)) == f"/* bundle {len(builds)} \r\n */"
        assert kept.read_bytes() == page.cached_form(f"/* bundle {len(builds)} \r\n */")
    assert len(builds) == 4

    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x", encoding="utf-8")
    assert bundle_with_cache_at(str(not_a_folder)) == "/* bundle 5 \r\n */"
    assert not_a_folder.read_text(encoding="utf-8") == "x"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    bundle_with_cache_at("relative")  # not absolute: ignored, as the XDG spec says
    assert not (tmp_path / "relative").exists()
    assert (tmp_path / "home" / ".cache" / "lakehouse" / name).is_file()
