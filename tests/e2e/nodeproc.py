"""Run real nodes for end-to-end tests, the benchmark and the demo.

:class:`NodeProcess` is a node's data folder (made by ``node init``), its ``node run``
daemon as a subprocess (a :class:`tests.support.processes.ServiceProcess`), and ways to run
``node`` commands against it: :meth:`cli` in a subprocess, :meth:`call` in this process
(same code, no interpreter start-up). :class:`LocalNetwork` is a relay
(:class:`tests.integration.relayproc.RelayProcess`) and several nodes registered with it.
Everything listens on 127.0.0.1, every wait is bounded, and what is started is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from node.cli.main import main as node_main
from node.storage.records import StoredMessage, StoredReceipt
from node.storage.store import Store
from tests.integration.relayproc import RelayProcess
from tests.support.inprocess import run_main
from tests.support.processes import ServiceProcess, run_module

FAST_SETTINGS = {
    "relay": {"reconnect_base": 0.1, "reconnect_max": 1.0, "long_poll_wait": 25},
    "outbox": {"retry_base": 0.2, "retry_max": 1.0, "scan_interval": 0.2},
    "alerts": {"watch_interval": 0.5},
    "log": {"level": "debug"},
}


def set_options(path: Path, options: dict[str, dict[str, Any]]) -> None:
    """Change settings of a ``node.toml`` written by ``node init`` (keys already there)."""
    text = path.read_text()
    for section, values in options.items():
        start = text.index(f"\n[{section}]\n")
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        block = text[start:end]
        for key, value in values.items():
            rendered = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
            block, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {rendered}", block)
            if n == 0:
                block += f"\n{key} = {rendered}"
        text = text[:start] + block + text[end:]
    path.write_text(text)


@dataclass
class NodeProcess(ServiceProcess):
    """A node's data folder and, while it runs, its daemon."""

    party: str

    stop_timeout: ClassVar[float] = 15.0

    @classmethod
    def create(
        cls,
        data: Path,
        party: str,
        relay_url: str,
        options: dict[str, dict[str, Any]] | None = None,
        root_file: Path | None = None,
    ) -> NodeProcess:
        """``node init`` (unencrypted keystore: an unattended test daemon) and settings;
        ``root_file`` pins the secretariat's root (``--root``), else development mode."""
        node = cls(data, party)
        root = ["--root", str(root_file)] if root_file is not None else []
        code, out = node.call(
            "init", "--party", party, "--relay", relay_url, "--no-passphrase", *root
        )
        if code != 0:
            raise RuntimeError(f"node init {party} failed: {out}")
        set_options(data / "node.toml", {**FAST_SETTINGS, **(options or {})})
        return node

    @property
    def label(self) -> str:
        return f"{self.party}'s daemon"

    @property
    def bundle(self) -> bytes:
        return (self.data / "keys" / "bundle.json").read_bytes()

    # -- the daemon ------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        """Start ``node run`` and wait until it has fetched the directory."""
        self.launch("daemon", "node", "run", "--data", str(self.data))
        self.wait_ready(self._started, timeout, "no directory fetched")

    def _started(self) -> bool:
        out = self.output()
        return any(f'"directory.{e}"' in out for e in ("refreshed", "refresh_failed", "rejected"))

    def events(self) -> list[dict[str, Any]]:
        """The daemon's log lines, parsed (all runs so far)."""
        out = []
        for path in sorted(self.data.glob("daemon-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    # -- commands --------------------------------------------------------------------------

    def call(self, *args: str, stdin: str | None = None) -> tuple[int, Any]:
        """Run ``node ARGS --data DIR --json`` in this process; (exit code, parsed output)."""
        code, text, err = run_main(node_main, [*args, "--data", str(self.data), "--json"])
        try:
            return code, json.loads(text) if text.strip() else None
        except ValueError:
            return code, text + err

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``python -m node ARGS --data DIR`` as a separate process."""
        return run_module("node", *args, "--data", str(self.data), env=self.env, timeout=timeout)

    # -- reading the node's store ----------------------------------------------------------

    def _read(self, fn: Callable[[Store], Any]) -> Any:
        async def go() -> Any:
            store = await Store.open(self.data / "node.db")
            try:
                return await fn(store)
            finally:
                await store.close()

        return asyncio.run(go())

    def messages(self, direction: str | None = None) -> list[StoredMessage]:
        return list(self._read(lambda s: s.list_messages(direction=direction, limit=100_000)))

    def receipt_types(self, msg_id: str) -> list[str]:
        rows: list[StoredReceipt] = self._read(lambda s: s.receipts_for(msg_id))
        return sorted(r.type for r in rows)

    def all_receipts(self) -> list[StoredReceipt]:
        return list(self._read(lambda s: s.all_receipts()))

    def audit_proofs(self, msg_id: str) -> list[Any]:
        """The receipts of ``msg_id`` this node proved in the relay's audit log."""
        return list(self._read(lambda s: s.proofs_for(msg_id)))


@dataclass
class LocalNetwork:
    """A relay and nodes on loopback, in one folder."""

    root: Path
    relay: RelayProcess
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        root: Path,
        parties: list[str],
        *,
        relay_limits: dict[str, Any] | None = None,
        options: dict[str, dict[str, Any]] | None = None,
        root_file: Path | None = None,
    ) -> LocalNetwork:
        """``relay init``, ``node init`` for each party (pinning ``root_file`` if given: see
        :mod:`tests.e2e.secretariat`), and every bundle added to the relay."""
        root.mkdir(parents=True, exist_ok=True)
        relay = RelayProcess.create(root / "relay")
        if relay_limits:
            set_options(relay.data / "relay.toml", {"limits": relay_limits})
        net = cls(root, relay)
        for party in parties:
            node = NodeProcess.create(root / party.lower(), party, relay.url, options, root_file)
            relay.add_member(node.bundle)
            net.nodes[party] = node
        return net

    def __getitem__(self, party: str) -> NodeProcess:
        return self.nodes[party]

    @contextlib.contextmanager
    def running(self, *parties: str) -> Iterator[LocalNetwork]:
        """The relay and the named nodes' daemons, stopped on the way out whatever happens."""
        self.relay.start()
        try:
            for party in parties:
                self.nodes[party].start()
            yield self
        finally:
            for node in self.nodes.values():
                node.stop()
            self.relay.stop()
