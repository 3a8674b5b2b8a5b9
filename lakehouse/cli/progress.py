"""A progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Bar:
    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.1) -> None:
        self.out = stream or sys.stderr
        self.enabled = self.out.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._shown = False
        self._started: float | None = None

    def update(self, label: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval and done < total:
            return
        self._last = now
        width = 30
        filled = int(width * min(done, total) / total)
        self.out.write(
            f"\r{label:<18} [{'#' * filled}{'.' * (width - filled)}] {done / total:6.1%} "
            f"{done / 1e6:8.1f}/{total / 1e6:.1f} MB"
        )
        self.out.flush()
        self._shown = True

    def fraction(self, label: str, done: float | None) -> None:
        """A share of work done (None: not known yet, the elapsed time is shown)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if self._started is None:
            self._started = now
        if now - self._last < self.min_interval and done != 1.0:
            return
        self._last = now
        width = 30
        if done is None:
            self.out.write(f"\r{label:<18} {now - self._started:6.1f} s")
        else:
            filled = int(width * min(done, 1.0))
            self.out.write(f"\r{label:<18} [{'#' * filled}{'.' * (width - filled)}] {done:6.1%}")
        self.out.flush()
        self._shown = True

    def phase(self, label: str) -> None:
        """A step without a measure of its own (its name shown until the next update)."""
        if self.enabled:
            self.out.write(f"\r\033[K{label}...")
            self.out.flush()
            self._shown = True

    def close(self) -> None:
        if self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
