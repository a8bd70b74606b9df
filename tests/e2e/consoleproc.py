"""``node console`` as a subprocess on a node's data folder (for the browser tests, the
benchmark and the demo)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.e2e.nodeproc import NodeProcess
from tests.support.processes import ServiceProcess, free_port


@dataclass
class ConsoleProcess(ServiceProcess):
    """The web console of one node, on 127.0.0.1 and a free port."""

    party: str = ""
    port: int = 0

    @classmethod
    def of(cls, node: NodeProcess) -> ConsoleProcess:
        return cls(node.data, party=node.party, port=free_port())

    @property
    def label(self) -> str:
        return f"{self.party}'s console"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.launch(
            "console", "node", "console", "--data", str(self.data), "--port", str(self.port)
        )
        self.wait_ready(lambda: "console of" in self.output(), timeout, "not serving")


def add_officer(
    node: NodeProcess, name: str, password: str, folder: Path, role: str = "officer"
) -> None:
    """``node officers add NAME --role ROLE --password-file`` (the file is removed
    afterwards)."""
    secret = folder / f".{name}.password"
    secret.write_text(password)
    try:
        code, out = node.call(
            "officers", "add", name, "--role", role, "--password-file", str(secret)
        )
    finally:
        secret.unlink()
    if code != 0:
        raise RuntimeError(f"node officers add {name} failed: {out}")
