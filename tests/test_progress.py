"""The progress bar draws only on a terminal."""

from __future__ import annotations

import io

import pytest

from lakehouse.cli.progress import Bar

pytestmark = pytest.mark.fast


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_draws_on_a_terminal_and_clears_its_line() -> None:
    out = FakeTerminal()
    bar = Bar(out, min_interval=0)
    bar.update("model_calls", 50_000_000, 100_000_000)
    bar.update("model_calls", 100_000_000, 100_000_000)
    bar.close()
    text = out.getvalue()
    assert "model_calls" in text and " 50.0%" in text and "100.0%" in text
    assert text.endswith("\r\033[K")


def test_bar_is_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    bar = Bar(out, min_interval=0)
    bar.update("model_calls", 1, 2)
    bar.close()
    assert out.getvalue() == ""
