"""One daemon per data folder (:mod:`node.daemon.lock`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keys.host.command import EXIT_CONFIG, exit_code_for
from node.daemon.lock import LOCK_NAME, AlreadyRunning, daemon_lock

HOLD = """
import sys, time
from pathlib import Path
from node.daemon.lock import daemon_lock
with daemon_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_the_lock_holds_the_pid_and_is_released(tmp_path: Path) -> None:
    with daemon_lock(tmp_path) as path:
        assert path.read_text().strip() == str(os.getpid())
    with daemon_lock(tmp_path):  # released: taken again
        pass


def test_a_second_daemon_is_refused_naming_the_first(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning) as info, daemon_lock(tmp_path):
            pass
        error = info.value
        assert f"pid {holder.pid}" in error.message and LOCK_NAME in error.message
        assert exit_code_for(error) == EXIT_CONFIG and error.fault == "local"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    with daemon_lock(tmp_path):  # the holder ended: free again
        pass


def test_a_stale_lock_file_does_not_block(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("999999\n")  # left by a daemon killed with -9
    with daemon_lock(tmp_path) as path:
        assert path.read_text().strip() == str(os.getpid())
