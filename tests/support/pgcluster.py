"""A private PostgreSQL server for tests that stop, start or kill the database.

The shared server at ``POCNET_TEST_POSTGRES_URL`` belongs to everyone running tests on the
machine: a fault test must never stop it. :class:`PgCluster` runs a server of its own
instead: ``initdb`` into a temporary folder, ``postgres`` on a free 127.0.0.1 port, trust
authentication for the user ``postgres``. The server binaries come from Debian's
``/usr/lib/postgresql/<version>/bin`` (or ``POCNET_TEST_PG_BIN``); when the tests run as root,
the server runs as the ``postgres`` user, since PostgreSQL refuses to run as root.

Every wait is bounded; :meth:`PgCluster.close` (and the ``pg_cluster`` fixture) stops the
server and removes its folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port

BOUND = 60.0  # seconds for the server to start or stop, however loaded the machine


def server_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    given = os.environ.get("POCNET_TEST_PG_BIN")
    candidates = (
        [Path(given)] if given else sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    )
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _as_server_user() -> list[str]:
    """The command prefix that runs a server binary as a non-root user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PgCluster:
    """One private PostgreSQL server: its folder, port and the binaries that run it."""

    root: Path
    port: int
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @classmethod
    def start_new(cls, root: Path) -> PgCluster:
        """Create a cluster under ``root`` and start it.

        Raises:
            RuntimeError: ``initdb`` or the server failed (the log's tail is in the message).
        """
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError("no PostgreSQL server binaries (set POCNET_TEST_PG_BIN)")
        root.mkdir(parents=True, exist_ok=True)
        cluster = cls(root=root, port=free_port(), bin=binaries)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        conf = cluster.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as f:
            f.write(
                f"\nport = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\nfsync = off\nmax_connections = 200\n"
            )
        cluster.start()
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*_as_server_user(), str(self.bin / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=BOUND, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}"
            )

    def start(self) -> None:
        """Start the server on its port and wait until it accepts connections."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(int(BOUND)),
            "start",
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + BOUND
        ready = [
            str(self.bin / "pg_isready"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
        ]
        while subprocess.run(ready, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on port {self.port} did not become ready")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions ended, then a clean stop) and wait."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(int(BOUND)), "stop")

    def kill(self) -> None:
        """SIGKILL the server and all its processes at once, as a crash of its machine would.

        The next :meth:`start` recovers from the WAL. pg_ctl starts the postmaster in a
        session of its own, so its process group is the server and nothing else.
        """
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        if os.getpgid(pid) != pid:
            raise RuntimeError(f"postmaster {pid} does not lead its own process group")
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + BOUND
        while _group_alive(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL processes of group {pid} outlived SIGKILL")
            time.sleep(0.02)

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        return _alive(int(pid_file.read_text().split()[0]))

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.database_url(name)

    def close(self) -> None:
        """Stop the server if it runs (immediately: it is a test's) and remove its folder."""
        with contextlib.suppress(Exception):
            if self.running():
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    str(int(BOUND)),
                    "stop",
                )
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL server for one test, stopped and removed afterwards."""
    if server_binaries() is None:
        pytest.skip(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin or POCNET_TEST_PG_BIN)"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    # Not under pytest's tmp folder: that one is 0700 to root and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="pocnet-pg-"))
    cluster = PgCluster.start_new(root)
    try:
        yield cluster
    finally:
        cluster.close()
