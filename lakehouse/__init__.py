"""lakehouse: an embedded evidence store for LLM agent logs.

Stages, each a package importing only those before it: ``core``, ``ingest`` (logs to evidence),
``gateway`` (the model client), ``retrieval`` (corpus, BM25, vectors), ``catalog`` (the DuckDB
catalog and SQL over it), ``replay`` (the Go port); ``pipeline`` chains them; ``publisher`` (the
lake's publisher a host keeps), ``demo`` and ``cli`` sit on top.
"""

# The one place the version is written: pyproject.toml reads it from here (hatchling's version
# source), so a command need not import importlib.metadata (~35 ms) to know it.
__version__ = "0.1.0"
