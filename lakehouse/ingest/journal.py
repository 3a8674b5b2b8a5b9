"""A commit journal: the list of file operations that make a run visible, replayable after a crash.

A run first writes everything it produces under temporary names. Writing the journal
(atomically) is the commit point; applying it renames the temporaries into place, appends
log lines and saves state. Every operation is idempotent, so a run killed while applying
is finished by the next one (``recover``) and nothing is applied twice.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lakehouse.core import failpoints
from lakehouse.core.errors import StorageError
from lakehouse.core.files import (
    append_lines,
    atomic_write,
    dumps,
    exclusive_lock,
    fsync_path,
    size_of,
    truncate,
)
from lakehouse.core.paths import Layout
from lakehouse.ingest import evidence


class Journal:
    """Operations on paths relative to ``root``, applied in order."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ops: list[dict[str, Any]] = []

    def rename(self, tmp: Path, final: Path) -> None:
        self.ops.append({"op": "rename", "from": self._rel(tmp), "to": self._rel(final)})

    def delete(self, path: Path) -> None:
        self.ops.append({"op": "delete", "path": self._rel(path)})

    def append(self, path: Path, lines: list[str]) -> None:
        """Append ``lines``; on replay the file is first cut back to its size at commit time."""
        self.ops.append({"op": "append", "path": self._rel(path), "pre_size": size_of(path), "lines": lines})

    def write_json(self, path: Path, data: Any) -> None:
        self.ops.append({"op": "write", "path": self._rel(path), "data": data})

    def commit(self, journal_path: Path) -> None:
        """Make the journal durable, then apply it."""
        failpoints.hit("before_journal")
        atomic_write(journal_path, dumps({"ops": self.ops}).encode("utf-8"))
        failpoints.hit("after_journal")
        apply(self.root, self.ops)
        failpoints.hit("before_journal_delete")
        journal_path.unlink()
        fsync_path(journal_path.parent)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def apply(root: Path, ops: list[dict[str, Any]]) -> None:
    dirs: set[Path] = set()
    try:
        for op in ops:
            kind = op["op"]
            if kind == "rename":
                source, target = root / op["from"], root / op["to"]
                if source.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(source, target)
                    dirs.add(target.parent)
                    failpoints.hit("after_first_rename")
            elif kind == "delete":
                with contextlib.suppress(FileNotFoundError):
                    (root / op["path"]).unlink()
            elif kind == "append":
                for directory in dirs:
                    fsync_path(directory)
                dirs.clear()
                path = root / op["path"]
                truncate(path, op["pre_size"])
                append_lines(path, op["lines"])
                failpoints.hit("after_append")
            elif kind == "write":
                atomic_write(root / op["path"], dumps(op["data"]).encode("utf-8"))
        for directory in dirs:
            fsync_path(directory)
    except OSError as exc:
        raise StorageError(f"cannot apply commit journal: {exc}") from exc


def recover(root: Path, journal_path: Path) -> bool:
    """Finish a commit a crash interrupted. Returns whether there was one."""
    if not journal_path.exists():
        return False
    try:
        ops = json.loads(journal_path.read_text(encoding="utf-8"))["ops"]
    except (OSError, ValueError, KeyError) as exc:
        raise StorageError(f"commit journal {journal_path} is unreadable: {exc}") from exc
    apply(root, ops)
    journal_path.unlink()
    return True


@contextlib.contextmanager
def exclusive_root(
    layout: Layout, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> Iterator[bool]:
    """Hold the root's write lock, with any interrupted commit finished and dead temporaries gone.

    Yields whether an interrupted commit was finished. Materialize, quarantine retry, compact, rebuild
    and prune all write evidence under this one lock; a run failing before its commit point leaves no
    temporary behind.
    """
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(layout.materialize_lock, wait=wait, on_wait=on_wait):
        recovered = recover(layout.root, layout.commit_journal)
        evidence.remove_stale_temporaries(layout)
        try:
            yield recovered
        except BaseException:
            # A run that failed before its commit point (a full disk, an I/O error, Ctrl-C) leaves nothing
            # behind: its temporaries would keep the disk full. After the commit point they are the
            # journal's, and the next run finishes the commit with them.
            if not layout.commit_journal.exists():
                evidence.remove_stale_temporaries(layout)
            raise
