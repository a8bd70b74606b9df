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

import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from keys.httpsig_fast import sign_request
from keys.identities import SigningKey
from tests.support.processes import ServiceProcess, free_port, run_module


def relay_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``python -m relay ARGS --json``; return the parsed JSON (raise on failure)."""
    proc = run_module("relay", *args, "--json", env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"relay {' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
        )
    return json.loads(proc.stdout)


@dataclass
class RelayProcess(ServiceProcess):
    """A relay data folder, and the ``relay serve`` process running on it."""

    port: int = field(default_factory=free_port)
    database_url: str | None = None

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
    def label(self) -> str:
        return "relay"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def relay_bundle(self) -> bytes:
        return (self.data / "bundle.json").read_bytes()

    def add_member(self, bundle: bytes) -> None:
        """Add a node's public bundle (as ``relay members add`` would)."""
        from relay.directory.folder import add_bundle

        add_bundle(self.data, bundle)

    def start(self, timeout: float = 20.0) -> None:
        """Start ``relay serve`` and wait until ``/healthz`` answers."""
        args = ["serve", "--data", str(self.data), "--port", str(self.port), *self._db_args()]
        self.launch(f"serve-{self.port}", "relay", *args)
        self.wait_ready(self._healthy, timeout, "no answer on /healthz")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines of the latest run so far (those named ``name``, if given)."""
        found = []
        for line in self.output().splitlines():
            if not line.startswith("{"):
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if name is None or doc.get("event") == name:
                found.append(doc)
        return found

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False


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

    async def put_chunk(
        self, att_id: str, idx: int, blob: bytes, *, size: int, chunks: int
    ) -> tuple[int, Any]:
        path = f"/v1/attachments/{att_id}/chunks/{idx}?size={size}&chunks={chunks}"
        status, body, _ = await self.request(
            "PUT", path, blob, headers={"Content-Type": "application/octet-stream"}
        )
        return status, body

    async def attachment_status(self, att_id: str) -> tuple[int, Any]:
        status, body, _ = await self.request("GET", f"/v1/attachments/{att_id}")
        return status, body

    async def get_chunk(self, att_id: str, idx: int) -> tuple[int, bytes]:
        """A chunk's raw bytes (or the error body's bytes)."""
        assert self._session is not None, "use 'async with'"
        path = f"/v1/attachments/{att_id}/chunks/{idx}"
        async with self._session.get(self.base_url + path, headers=self.sign("GET", path)) as r:
            return r.status, await r.read()

    async def directory(self) -> tuple[int, Any]:
        status, body, _ = await self.request("GET", "/v1/directory")
        return status, body
