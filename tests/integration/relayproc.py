"""Run a real relay for tests: a ``python -m relay serve`` subprocess and a signed client.

Reusable by the node's tests::

    relay = RelayProcess.create(tmp_path / "relay")      # relay init + db upgrade
    relay.add_member(bundle_bytes)                        # a node's public bundle
    with relay.running():                                 # starts, waits for /healthz
        async with SignedClient(relay.url, "FR", key) as fr:
            status, body, _ = await fr.request("GET", "/v1/inbox?wait=1")

Everything listens on 127.0.0.1, every wait is bounded, and what is started is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from keys.httpsig import sign_request
from keys.identities import SigningKey

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relay_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``python -m relay ARGS --json``; return the parsed JSON (raise on failure)."""
    proc = subprocess.run(
        [sys.executable, "-m", "relay", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"relay {' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
        )
    return json.loads(proc.stdout)


@dataclass
class RelayProcess:
    """A relay data folder, and the ``relay serve`` process running on it."""

    data: Path
    port: int = field(default_factory=free_port)
    database_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @classmethod
    def create(
        cls, data: Path, *, database_url: str | None = None, env: Mapping[str, str] | None = None
    ) -> RelayProcess:
        """``relay init`` (unencrypted key) and ``relay db upgrade`` in ``data``."""
        relay = cls(data, database_url=database_url, env=dict(env or {}))
        relay_cli("init", "--data", str(data), "--no-passphrase")
        relay_cli("db", "upgrade", "--data", str(data), *relay._db_args(), env=relay.env)
        return relay

    def _db_args(self) -> list[str]:
        return ["--database-url", self.database_url] if self.database_url else []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def relay_bundle(self) -> bytes:
        return (self.data / "bundle.json").read_bytes()

    def add_member(self, bundle: bytes) -> None:
        """Add a node's public bundle (as ``relay members add`` would)."""
        from relay.members import add_bundle

        add_bundle(self.data, bundle)

    def start(self, timeout: float = 20.0) -> None:
        """Start ``relay serve`` and wait until ``/healthz`` answers."""
        assert self.proc is None, "already running"
        self.log_path = self.data / f"serve-{self.port}-{int(time.time() * 1000)}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        cmd = [sys.executable, "-m", "relay", "serve", "--data", str(self.data)]
        cmd += ["--port", str(self.port), *self._db_args()]
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **self.env}
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"relay did not answer /healthz within {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait for a graceful exit; return the exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: the crash test's power cut of a process."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def output(self) -> str:
        """Everything the process wrote so far (its JSON log lines)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    @contextlib.contextmanager
    def running(self) -> Iterator[RelayProcess]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


class SignedClient:
    """An HTTP client that signs every request as ``party`` (RFC 9421, :mod:`keys.httpsig`)."""

    def __init__(
        self,
        base_url: str,
        party: str,
        key: SigningKey,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.party = party
        self.key = key
        self.clock = clock
        self._session = session
        self._own = session is None

    async def __aenter__(self) -> SignedClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own and self._session is not None:
            await self._session.close()

    def sign(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        now: datetime | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        return sign_request(
            method,
            self.base_url + path,
            body,
            key=self.key,
            party=self.party,
            now=now or self.clock(),
            nonce=nonce,
        )

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        headers: Mapping[str, str] | None = None,
        sign: bool = True,
        now: datetime | None = None,
        nonce: str | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """Send a request; return (status, parsed JSON or text, headers)."""
        assert self._session is not None, "use 'async with'"
        hdrs = {"Content-Type": "application/json"}
        if sign:
            hdrs.update(self.sign(method, path, body, now=now, nonce=nonce))
        hdrs.update(headers or {})
        async with self._session.request(
            method, self.base_url + path, data=body, headers=hdrs
        ) as resp:
            raw = await resp.read()
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return resp.status, parsed, resp.headers

    async def submit(self, envelope_bytes: bytes) -> tuple[int, Any]:
        status, body, _ = await self.request("POST", "/v1/envelopes", envelope_bytes)
        return status, body

    async def inbox(self, *, wait: float = 0, limit: int = 100) -> tuple[int, Any]:
        status, body, _ = await self.request("GET", f"/v1/inbox?wait={wait:g}&limit={limit}")
        return status, body

    async def ack(self, ids: list[str]) -> tuple[int, Any]:
        status, body, _ = await self.request(
            "POST", "/v1/inbox/ack", json.dumps({"ids": ids}).encode()
        )
        return status, body

    async def send_receipt(self, wire: bytes) -> tuple[int, Any]:
        status, body, _ = await self.request("POST", "/v1/receipts", wire)
        return status, body

    async def evidence(self, msg_id: str) -> tuple[int, Any]:
        status, body, _ = await self.request("GET", f"/v1/envelopes/{msg_id}/evidence")
        return status, body

    async def directory(self) -> tuple[int, Any]:
        status, body, _ = await self.request("GET", "/v1/directory")
        return status, body
