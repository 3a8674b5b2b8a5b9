"""A stop request that a signal handler can make: what long-running commands wait on.

``threading.Event`` cannot be set from a signal handler. Python runs a handler in the main thread
between two bytecodes, so when the main thread is inside ``Event.wait`` (or ``set``, ``clear``) and
holds the event's lock, the handler's ``set()`` waits for that lock forever: Python's signal docs warn
of it, and a ``lakehouse lake publisher`` sent SIGTERM once hung this way in CI. :class:`StopRequest`
takes no lock: ``set`` stores a flag and sends a byte into a socket pair, ``wait`` waits for the socket
to be readable (``selectors``: epoll or poll, no limit on the descriptor's number; a socket, not a pipe,
so that Windows' select takes it too).

Python runs a handler only between bytecodes, so a signal that arrives just before ``wait`` enters its
``select`` would run its handler only after the select ends: ``signal.set_wakeup_fd`` on the same
socket (:func:`woken_by_signals`) has the interpreter's C handler send a byte at once, which ends the
select, and the handler runs before ``wait`` looks at the flag again.
"""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any, Protocol


class Stopping(Protocol):
    """What a loop that runs until stopped needs: ``threading.Event`` or :class:`StopRequest`."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class StopRequest:
    """Like ``threading.Event`` for one purpose (set once, never cleared), and safe to set from a signal
    handler or any thread. Close it when done (a context manager)."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._reader, selectors.EVENT_READ)
        self._set = False
        self._closed = False

    def set(self) -> None:
        self._set = True  # before the byte: a wait that the byte wakes finds the flag set
        self._poke()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False after ``timeout`` seconds (None: no limit). A set() that lands between
        the flag's check and the select leaves its byte for the select: no wake-up is lost."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._set and not self._closed:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                ready = self._selector.select(left)
            except (OSError, ValueError):
                if self._closed:  # closed meanwhile: the flag answers
                    break
                raise
            if ready and not self._set:  # another signal's wake-up byte, not a stop: taken out
                with contextlib.suppress(OSError):
                    self._reader.recv(4096)
                if self._set:  # set meanwhile: its byte may have gone with them, and others may wait
                    self._poke()
        return self._set

    def _poke(self) -> None:
        # One byte wakes every wait under way (a full buffer already wakes them); after close there is
        # no one left to wake.
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def fileno(self) -> int:
        """The socket end that wakes a wait (for ``signal.set_wakeup_fd``)."""
        return self._writer.fileno()

    def close(self) -> None:
        self._closed = True
        self._selector.close()
        self._reader.close()
        self._writer.close()

    def __enter__(self) -> StopRequest:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def woken_by_signals(stop: StopRequest, signums: tuple[int, ...]) -> Iterator[StopRequest]:
    """``stop`` set by the signals ``signums`` (instead of their usual effect) while the block runs; the
    previous handlers and wake-up fd come back after. From the main thread only (Python's rule)."""
    previous: dict[int, Any] = {}
    woke: int | None = None
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        woke = signal.set_wakeup_fd(stop.fileno(), warn_on_full_buffer=False)
        yield stop
    finally:
        if woke is not None:
            signal.set_wakeup_fd(woke)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
