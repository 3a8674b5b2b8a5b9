"""Real text for the retrieval-quality benchmark: docstrings of the standard library and installed packages.

On every machine offline (the ``bench`` extra pins the packages) and written by nobody on the team. Each documented module, class,
function or method is one document: its title the qualified name (``json.JSONEncoder.encode``),
its text the docstring *without* its summary line. The source's own structure gives two query sets:

- **keyword** known-item queries: three rare words of one document (words in at most
  ``RARE_DF`` documents, but more than one, so a query is never a unique-word lookup);
- **natural-language** queries: the docstring's summary line, written by the library's authors,
  matched to the body it summarises (the summary is not in the indexed text).

Read with ``ast`` from the source files (nothing is imported); deterministic for one Python.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Tests, and this project's own package (the team wrote it, and it changes with every edit).
SKIP_DIRS = {
    "test",
    "tests",
    "idle_test",
    "site-packages",
    "lib2to3",
    "__pycache__",
    "turtledemo",
    "lakehouse",
}
WORD = re.compile(r"[a-z][a-z0-9_]{3,}")
RARE_DF = 20
MIN_BODY_WORDS = 25
SUMMARY_WORDS = (5, 24)


@dataclass(frozen=True)
class Doc:
    rag_id: str
    title: str
    summary: str
    body: str


@dataclass(frozen=True)
class Query:
    text: str
    rag_id: str


def _docstrings(path: Path, module: str):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    stack: list[tuple[ast.AST, str]] = [(tree, module)]
    while stack:
        node, name = stack.pop()
        doc = ast.get_docstring(node, clean=True)
        if doc:
            yield name, doc
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                stack.append((child, f"{name}.{child.name}"))


def _split(doc: str) -> tuple[str, str] | None:
    """(summary line, body) of a docstring that has both, else None."""
    paragraphs = doc.strip().split("\n\n", 1)
    if len(paragraphs) < 2:
        return None
    summary = " ".join(paragraphs[0].split())
    body = paragraphs[1].strip()
    n = len(summary.split())
    if not (SUMMARY_WORDS[0] <= n <= SUMMARY_WORDS[1]) or len(body.split()) < MIN_BODY_WORDS:
        return None
    return summary, body


def _sources() -> list[tuple[Path, Path]]:
    """(root, file) of every Python source: the standard library, then the installed packages."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    purelib = Path(sysconfig.get_paths()["purelib"])
    found = []
    for root in (stdlib, purelib):
        for path in sorted(root.rglob("*.py")):
            parts = set(path.relative_to(root).parts)
            if SKIP_DIRS & parts or (root == stdlib and "site-packages" in path.parts):
                continue
            found.append((root, path))
    return found


def documents(limit: int) -> list[Doc]:
    """Up to ``limit`` documents, chosen by a hash of their name (stable across runs)."""
    found: dict[str, Doc] = {}
    summaries: Counter[str] = Counter()
    for root, path in _sources():
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for name, doc in _docstrings(path, module):
            split = _split(doc)
            if split is None:
                continue
            summary, body = split
            summaries[summary.lower()] += 1
            rag_id = "rag:py-" + hashlib.sha256(name.encode()).hexdigest()[:16]
            found[rag_id] = Doc(rag_id, name, summary, body)
    # A summary shared by several documents ("Return self.") cannot name one of them.
    unique = [d for d in found.values() if summaries[d.summary.lower()] == 1]
    unique.sort(key=lambda d: hashlib.sha256(d.rag_id.encode()).hexdigest())
    return sorted(unique[:limit], key=lambda d: d.rag_id)


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def keyword_queries(docs: list[Doc], count: int, seed: int = 7) -> list[Query]:
    """Three rare words of one document each (in 2..RARE_DF documents), in the document's order."""
    df: Counter[str] = Counter()
    words = {d.rag_id: _words(f"{d.title} {d.body}") for d in docs}
    for ws in words.values():
        df.update(ws)
    queries: list[Query] = []
    for doc in _shuffled(docs, seed):
        rare = sorted(w for w in words[doc.rag_id] if 2 <= df[w] <= RARE_DF)
        if len(rare) < 3:
            continue
        queries.append(Query(" ".join(random.Random(f"{seed}:{doc.rag_id}").sample(rare, 3)), doc.rag_id))
        if len(queries) == count:
            break
    return queries


def question_queries(docs: list[Doc], count: int, seed: int = 11) -> list[Query]:
    """The summary line of one document each."""
    return [Query(d.summary, d.rag_id) for d in _shuffled(docs, seed)[:count]]


def _shuffled(docs: list[Doc], seed: int) -> list[Doc]:
    """Documents in an order fixed by their ids: a document's place does not depend on the others."""
    return sorted(docs, key=lambda d: hashlib.sha256(f"{seed}:{d.rag_id}".encode()).hexdigest())


def corpus_lines(docs: list[Doc]) -> list[dict[str, str]]:
    """The documents as ``lakehouse corpus add`` lines (the summary is left out)."""
    return [{"rag_id": d.rag_id, "title": d.title, "text": d.body} for d in docs]
