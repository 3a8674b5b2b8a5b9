"""Group commit: concurrent callers' items handled together in one flush.

A caller that finds fewer than ``flushes`` flushes running becomes a leader: it takes every item
queued so far and flushes them in one go (one append, one transaction, one query). Callers
arriving meanwhile queue up; when a flush ends and items are waiting, the first of them is woken
to flush them all. A caller returns its own item's result once it is flushed, or raises what the
flush raised. Each waiter sleeps on its own lock, so a flush wakes only the callers it served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Ticket(Generic[T, R]):
    __slots__ = ("batch", "error", "item", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.wake = threading.Lock()
        self.wake.acquire()  # released when the item is flushed, or when this caller is to flush
        self.result: R | None = None
        self.error: BaseException | None = None
        self.batch: list[_Ticket[T, R]] | None = None


class Coalescer(Generic[T, R]):
    def __init__(self, flush: Callable[[list[T]], Sequence[R] | None], *, flushes: int = 1) -> None:
        """``flush`` handles a batch of items, returning one result per item (or None); at most
        ``flushes`` run at once."""
        self._flush = flush
        self._flushes = flushes
        self._lock = threading.Lock()
        self._queue: list[_Ticket[T, R]] = []
        self._running = 0

    def submit(self, item: T) -> R | None:
        """Queue ``item``; return its result once it has been flushed (by this thread or another)."""
        ticket: _Ticket[T, R] = _Ticket(item)
        with self._lock:
            self._queue.append(ticket)
            batch = self._take() if self._running < self._flushes else None
        if batch is None:
            ticket.wake.acquire()
            batch = ticket.batch  # None when another caller's flush took this item
        if batch is not None:
            self._run(batch)
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def _take(self) -> list[_Ticket[T, R]]:
        self._running += 1
        batch, self._queue = self._queue, []
        return batch

    def _run(self, batch: list[_Ticket[T, R]]) -> None:
        results: Sequence[R | None] | None = None
        error: BaseException | None = None
        try:
            results = self._flush([ticket.item for ticket in batch])
            if results is not None and len(results) != len(batch):
                raise ValueError(f"a flush of {len(batch)} items returned {len(results)} results")
        except BaseException as exc:  # every caller of the batch raises it; none is left waiting
            error = exc
        with self._lock:
            self._running -= 1
            waiting = self._take() if self._queue else None
        for index, ticket in enumerate(batch):
            ticket.result = None if results is None or error is not None else results[index]
            ticket.error = error
            ticket.wake.release()
        if waiting:
            waiting[0].batch = waiting
            waiting[0].wake.release()
