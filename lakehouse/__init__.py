"""lakehouse: an embedded evidence store for LLM agent logs.

Stages, each a package importing only those before it: ``core``, ``ingest`` (logs to evidence),
``gateway`` (the model client), ``retrieval`` (corpus, BM25, vectors), ``catalog`` (the DuckDB
catalog and SQL over it), ``replay`` (the Go port); ``pipeline`` chains them; ``demo`` and ``cli``
sit on top.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lakehouse")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
