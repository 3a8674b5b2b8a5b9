"""The ``lakehouse`` command line: parses, calls the library, prints. Nothing else.

Messages for people go to stderr, data to stdout. Every ``LakehouseError`` becomes one
line ``error: ...`` and its exit code (PRODUCT.md §4); ``--debug`` shows the traceback.
"""

from lakehouse.cli import compare, corpus, ingest, lake, otlp, prices, prune, quarantine, replay, report, sql  # noqa: F401 (each registers its commands)
from lakehouse.cli.group import cli


def main() -> None:
    cli(prog_name="lakehouse")


__all__ = ["cli", "main"]
