"""Reading never writes (issue 28): every read-only command leaves the root's file tree as it was — names,
sizes, modification times — with or without a catalog, and on a full disk."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import lakehouse_command

pytestmark = pytest.mark.slow

# Every command that only reads (report writes only its --output, kept outside the root here).
READERS = [
    ["stats"],
    ["stats", "--json"],
    ["sql", "SELECT count(*) FROM evidence"],
    ["query", "slowest_runs"],
    ["report", "--output", "{out}/report.html"],
    ["compare", "baseline", "candidate"],
    ["corpus", "search", "flaky test"],
    ["quarantine", "list"],
    ["lake", "status"],
    ["prices"],
    ["prices", "--json"],
]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


def run(args: list[str], root: Path, out: Path) -> subprocess.CompletedProcess[str]:
    argv = [a.replace("{out}", str(out)) for a in args]
    return subprocess.run(
        [*lakehouse_command(), *argv, "--root", str(root)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readers") / "demo"
    subprocess.run(
        [*lakehouse_command(), "demo", "--root", str(root), "--lines", "600"], check=True, capture_output=True
    )
    return root


def check_readers(root: Path, out: Path, *, catalog: bool) -> None:
    for args in READERS:
        before = tree(root)
        done = run(args, root, out)
        assert "Traceback" not in done.stderr
        assert tree(root) == before, f"{args} changed the root"
        if not catalog and args[0] not in ("corpus", "lake", "prices"):  # prices reads data/prices.csv
            assert done.returncode == 2, (args, done.stderr)
            assert "'lakehouse materialize'" in done.stderr.splitlines()[-1], (args, done.stderr)


def test_readers_leave_a_root_without_a_catalog_as_it_is(demo: Path, tmp_path: Path) -> None:
    root = tmp_path / "streams-only"
    shutil.copytree(demo / "data" / "_kb", root / "data" / "_kb")  # the logs, never materialized
    check_readers(root, tmp_path, catalog=False)
    assert not (root / "data" / "lakehouse.duckdb").exists()
    searched = run(["corpus", "search", "flaky test"], root, tmp_path)
    assert searched.returncode == 0 and "in-memory index" in searched.stderr


def test_readers_leave_a_demo_root_as_it_is(demo: Path, tmp_path: Path) -> None:
    check_readers(demo, tmp_path, catalog=True)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (root only): a real ENOSPC from the kernel when it is full."""
    if os.geteuid() != 0:
        if os.environ.get("LH_REQUIRE_TMPFS"):
            pytest.fail("LH_REQUIRE_TMPFS is set but mounting a tmpfs needs root")
        pytest.skip("mounting a small tmpfs needs root (CI runs as root and sets LH_REQUIRE_TMPFS=1)")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        if os.environ.get("LH_REQUIRE_TMPFS"):
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def leave_free(disk: Path, free_bytes: int = 0) -> Path:
    """Fill the filesystem to the last byte (unbuffered writes of ever smaller chunks), then give back
    ``free_bytes``; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - free_bytes))
    finally:
        os.close(fd)
    return filler


def test_readers_on_a_full_disk_write_nothing(demo: Path, tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", "64m") as disk:
        root = disk / "root"
        shutil.copytree(demo, root)
        leave_free(disk)
        check_readers(root, tmp_path, catalog=True)
