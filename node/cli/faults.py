"""Named pause points for crash tests: a test sets ``POCNET_FAULT_PAUSE`` to a point's name
and ``POCNET_FAULT_PAUSE_FILE`` to a path; when the command reaches that point it writes
the point's name to the file and waits (at most ``MAX_PAUSE_SECONDS``, then exits 70) to
be killed. So a test kills ``node send`` exactly "after the envelope is committed", not
after a delay that a loaded machine stretches. Without both variables it does nothing.
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_ENV = "POCNET_FAULT_PAUSE"
PAUSE_FILE_ENV = "POCNET_FAULT_PAUSE_FILE"
MAX_PAUSE_SECONDS = 120.0
POINTS = ("started", "queued", "submitted")


def pause_at(point: str) -> None:
    """Pause here if a crash test asked for ``point`` (one of :data:`POINTS`)."""
    assert point in POINTS, point
    wanted, marker = os.environ.get(PAUSE_ENV), os.environ.get(PAUSE_FILE_ENV)
    if wanted != point or not marker:
        return
    with open(marker, "w", encoding="utf-8") as f:
        f.write(point)
    time.sleep(MAX_PAUSE_SECONDS)  # the test kills us here; if it does not, fail loudly
    sys.exit(70)
