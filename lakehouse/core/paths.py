"""Where things live under a root (PRODUCT.md §2)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lakehouse.core.errors import RootError

ROOT_ENV = "LH_DISTILL_ROOT"


@dataclass(frozen=True)
class Layout:
    """Every path under ``ROOT/data`` that lakehouse reads or writes."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def kb(self) -> Path:
        return self.data / "_kb"

    def stream(self, name: str) -> Path:
        return self.kb / f"{name}.jsonl"

    @property
    def receipts(self) -> Path:
        return self.kb / "receipts.jsonl"

    @property
    def quarantine(self) -> Path:
        return self.kb / "quarantine.jsonl"

    @property
    def replay_runs(self) -> Path:
        return self.kb / "replay_runs.jsonl"

    @property
    def prices(self) -> Path:
        return self.data / "prices.csv"

    @property
    def rag_corpus(self) -> Path:
        return self.kb / "rag_corpus.jsonl"

    @property
    def evidence(self) -> Path:
        return self.data / "evidence"

    @property
    def parquet(self) -> Path:
        return self.evidence / "parquet"

    @property
    def evidence_jsonl(self) -> Path:
        return self.evidence / "jsonl"

    def parquet_day(self, day: str) -> Path:
        return self.parquet / f"day={day}"

    def jsonl_day(self, day: str) -> Path:
        return self.evidence_jsonl / f"day={day}" / "evidence.jsonl"

    @property
    def catalog(self) -> Path:
        return self.data / "lakehouse.duckdb"

    @property
    def state_dir(self) -> Path:
        """Bookkeeping that is not evidence: offsets, the commit journal, locks."""
        return self.data / "_state"

    @property
    def materialize_state(self) -> Path:
        return self.state_dir / "materialize_state.json"

    @property
    def commit_journal(self) -> Path:
        return self.state_dir / "materialize_commit.json"

    @property
    def materialize_lock(self) -> Path:
        return self.state_dir / "materialize.lock"

    @property
    def retention(self) -> Path:
        """The root's retention: days before it were pruned and are not mirrored again."""
        return self.state_dir / "retention.json"

    @property
    def prune_receipts(self) -> Path:
        return self.kb / "prune_receipts.jsonl"

    @property
    def lake_config(self) -> Path:
        """The root's membership of a lake (present once it joined one)."""
        return self.data / "lake.json"

    @property
    def lake_outbox(self) -> Path:
        """One marker a commit the lake has not been sent yet (see core/outbox.py)."""
        return self.state_dir / "lake_outbox"

    def relative(self, path: Path) -> str:
        """A path as recorded in provenance: relative to the root, forward slashes."""
        return path.relative_to(self.root).as_posix()


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """``--root``, else ``$LH_DISTILL_ROOT``, else the current directory."""
    chosen = root if root not in (None, "") else os.environ.get(ROOT_ENV) or os.getcwd()
    return Path(chosen).expanduser().absolute()


def open_root(
    root: str | os.PathLike[str] | None, *, create: bool = False, make_root: bool = False
) -> Layout:
    """Resolve and check a root. ``create`` makes ``data/_kb`` (for writers); ``make_root`` also
    makes the root folder itself (``demo``, whose README example names a new folder)."""
    path = resolve_root(root)
    if make_root and not path.exists():
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise RootError(f"cannot create root {path}: {exc.strerror}") from exc
    if not path.exists():
        raise RootError(f"root {path} does not exist")
    if not path.is_dir():
        raise RootError(f"root {path} is not a directory")
    layout = Layout(path)
    if create:
        try:
            layout.kb.mkdir(parents=True, exist_ok=True)
            layout.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RootError(f"root {path} is not writable: {exc.strerror}") from exc
    if create and not os.access(layout.data, os.W_OK):
        raise RootError(f"root {path} is not writable")
    return layout
