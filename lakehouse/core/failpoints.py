"""Named crash points for the crash-safety tests: ``LH_FAILPOINT=name`` kills the process there.

A no-op unless the variable is set; the tests use it to SIGKILL a real materialize at
each step of its commit and check that the next run ends exactly like a clean one.
"""

from __future__ import annotations

import os
import signal

ENV = "LH_FAILPOINT"


def hit(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
