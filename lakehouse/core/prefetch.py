"""An iterator's next items made on a thread of their own while the caller works on the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield what ``items`` yields, in order, producing up to ``depth`` items ahead on a thread.

    Worth it when producing an item releases the GIL for a good part (file reads, pyarrow) and the
    caller's work does too (DuckDB). An exception from ``items`` is raised here, at the item it
    replaced; when the caller stops early the thread stops at its next item.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(ready, stop, item):
                    return
            _put(ready, stop, _DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            _put(ready, stop, exc)

    worker = threading.Thread(target=produce, name="lh-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def _put(ready: queue.Queue[object], stop: threading.Event, item: object) -> bool:
    """Queue ``item`` unless the consumer has gone; whether it was queued."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
