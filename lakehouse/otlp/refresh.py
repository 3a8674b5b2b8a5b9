"""Making what the receiver stored evidence within seconds, without ever holding up a request.

The receiver calls :meth:`Refresher.notify` after each stored request; a background thread runs the
caller's ``materialize`` (the pipeline's, with the root's usual lock: a materialize already running,
say a user's, means this one waits for the next turn) at most once every ``interval`` seconds while
something new is waiting. Failures are reported through ``warn`` and retried on the next turn; the
lines stay in the stream, so nothing is lost meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lakehouse.core.errors import LakehouseError, LockBusyError


class Refresher:
    def __init__(
        self,
        materialize: Callable[[], str | None],
        *,
        interval: float = 1.0,
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._materialize = materialize
        self._interval = interval
        self._warn = warn
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._last_warning: str | None = None
        self._thread = threading.Thread(target=self._loop, name="lakehouse-otlp-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._pending.set()

    def stop(self) -> None:
        """Stop the thread after the run in progress; then one last run for what is still pending."""
        self._stopping.set()
        self._pending.set()
        self._thread.join()
        self.run_once()

    def run_once(self) -> None:
        try:
            message = self._materialize()
        except LockBusyError:
            self._pending.set()  # someone else is materializing: ours comes next turn
            return
        except LakehouseError as exc:
            message = f"materialize failed ({exc}); the spans are kept and tried again"
            self._pending.set()
        except Exception as exc:  # the thread must outlive an unforeseen error: the spans are on disk
            message = f"materialize failed ({type(exc).__name__}: {exc}); run 'lakehouse materialize'"
        if message and message != self._last_warning:
            self._warn(message)
        self._last_warning = message

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._pending.wait()
            if self._stopping.is_set():
                return
            self._pending.clear()
            self.run_once()
            self._stopping.wait(self._interval)
