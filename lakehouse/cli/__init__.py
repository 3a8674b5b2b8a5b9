"""The ``lakehouse`` command line: parses, calls the library, prints. Nothing else.

Messages for people go to stderr, data to stdout. Every ``LakehouseError`` becomes one
line ``error: ...`` and its exit code (PRODUCT.md §4); ``--debug`` shows the traceback.
"""

import contextlib
import ctypes
import importlib
from typing import Any

from lakehouse.cli import group


def main() -> None:
    _return_freed_memory()
    group.cli(prog_name="lakehouse")  # each command's module imported when the command is asked for


def __getattr__(name: str) -> Any:
    """``lakehouse.cli.cli``: the click group with every command loaded (for tests and embedding)."""
    if name != "cli":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in sorted(set(group.COMMAND_MODULES.values())):
        importlib.import_module(f"lakehouse.cli.{module}")
    return group.cli


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
