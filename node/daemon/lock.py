"""One daemon per data folder: an exclusive lock on ``DATA/node.lock`` holding its pid.

Two ``node run`` on the same folder would both submit the outbox and both answer the
inbox; the second one must stop at once with an error that names the first. The lock is
an advisory ``flock`` held for the daemon's life: the kernel releases it when the process
ends, however it ends (``kill -9`` included), so a stale file never blocks a restart. The
pid written in the file is for the person reading the error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from keys.errors import ConfigError

LOCK_NAME = "node.lock"


class AlreadyRunning(ConfigError):
    """Another daemon holds this data folder."""

    code = "daemon_running"


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()[:20]
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def daemon_lock(data_dir: Path) -> Iterator[Path]:
    """Hold ``DATA/node.lock`` while the block runs.

    Raises:
        AlreadyRunning: another process holds it (its pid is in the message).
    """
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise AlreadyRunning(
                f"another 'node run' (pid {_holder(path)}) already serves {data_dir} "
                f"(lock file {path}); stop it first, or give another --data folder"
            ) from e
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        os.fsync(fd)
        yield path
    finally:
        os.close(fd)  # releases the lock
