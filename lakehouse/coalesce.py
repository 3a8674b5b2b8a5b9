"""Group commit: concurrent callers' items handled together in one flush.

The first caller to find no flush running becomes the leader: it takes every item queued so
far, flushes them in one go (one append, one transaction) and wakes the others. A caller
returns once its own item is flushed, or raises what the flush raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Ticket:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._queue: list[tuple[T, _Ticket]] = []
        self._flushing = False

    def submit(self, item: T) -> None:
        """Queue ``item`` and return once it has been flushed (by this thread or another)."""
        ticket = _Ticket()
        with self._cond:
            self._queue.append((item, ticket))
            while self._flushing and not ticket.done:
                self._cond.wait()
            if ticket.done:
                return self._raise_if_failed(ticket)
            batch, self._queue = self._queue, []
            self._flushing = True
        error: BaseException | None = None
        try:
            self._flush([queued for queued, _ in batch])
        except BaseException as exc:
            error = exc
        with self._cond:
            for _, queued_ticket in batch:
                queued_ticket.done, queued_ticket.error = True, error
            self._flushing = False
            self._cond.notify_all()
        return self._raise_if_failed(ticket)

    @staticmethod
    def _raise_if_failed(ticket: _Ticket) -> None:
        if ticket.error is not None:
            raise ticket.error
