"""The progress bar draws only on a terminal."""

from __future__ import annotations

import io
import os
import pty
import subprocess

import pytest
from support import lakehouse_command, write_stream

from lakehouse.cli.progress import Bar
from lakehouse.core.paths import Layout

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


def on_a_terminal(args: list[str]) -> tuple[int, str]:
    """The installed command with its stderr on a pseudo-terminal (where the bar draws), and what it wrote there."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*lakehouse_command(), *args], stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the command exited: the terminal's other side is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return proc.wait(timeout=120), b"".join(chunks).decode()


def test_materialize_says_when_it_distils_playbooks_and_what_it_distilled(layout: Layout) -> None:
    playbooks = [
        {
            "ts": "2026-05-01T10:00:00Z",
            "playbook_id": f"p{i}",
            "version": 1,
            "title": f"Play {i}",
            "steps": ["s"],
        }
        for i in range(3)
    ]
    write_stream(layout, "playbooks", playbooks)
    code, said = on_a_terminal(["materialize", "--root", str(layout.root)])
    assert code == 0, said
    assert "distilling playbooks into the RAG corpus..." in said  # while it works, then cleared
    assert "distilled 3 playbooks into the RAG corpus, indexed, in " in said
    write_stream(layout, "model_calls", [{"ts": "2026-05-02T10:00:00Z", "call_id": "c"}])
    code, said = on_a_terminal(["materialize", "--root", str(layout.root)])
    assert code == 0 and "materialized 1 new evidence records" in said and "distil" not in said, said
