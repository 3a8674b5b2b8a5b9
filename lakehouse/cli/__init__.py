"""The ``lakehouse`` command line: parses, calls the library, prints. Nothing else.

Messages for people go to stderr, data to stdout. Every ``LakehouseError`` becomes one
line ``error: ...`` and its exit code (PRODUCT.md §4); ``--debug`` shows the traceback.
"""

import contextlib
import ctypes

from lakehouse.cli import compare, corpus, ingest, lake, otlp, prices, prune, quarantine, replay, report, sql  # noqa: F401 (each registers its commands)
from lakehouse.cli.group import cli


def main() -> None:
    _return_freed_memory()
    cli(prog_name="lakehouse")


def _return_freed_memory() -> None:
    """Large blocks go back to the system when freed (glibc; elsewhere nothing changes).

    By default glibc raises its mmap threshold each time a large block is freed, so later ones come
    from the heap, where they stay after their free: a materialize of a million lines, whose blocks
    pass through DuckDB's Arrow buffers, held 1.0-1.1 GB at its peak instead of 0.8. Setting the
    threshold (M_MMAP_THRESHOLD, to glibc's own default) keeps it where it is. The command's process
    only: the library, inside someone else's process, leaves their allocator alone.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)  # the process's own symbols: libc's


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


__all__ = ["cli", "main"]
