"""The secretariat's side of a local network, made with the real commands.

Three administrators (``keys directory admin-key``, each with their own passphrase-protected
keystore), a directory signed 2 of 3 (two administrators sign separately, ``combine``
joins the signatures, ``verify`` checks the result), installed at the relay
(``relay directory install``, a subprocess as on the operator's machine) and pinned by the
nodes (``node init --root`` with the file of ``keys directory export-root``)::

    sec = Secretariat.create(root / "secretariat")          # admins, version 1, root.json
    net = LocalNetwork.create(root, ["FR", "DE"], root_file=sec.root_file)
    sec.list_network(net)                                    # relay key and every party
    sec.publish(net.relay)                                   # sign 2 of 3, combine, install

Used by the end-to-end tests and ``make demo``. The ``keys`` commands run in this process
(they are pure file work); administrators' keys use the ``interactive`` Argon2id profile
to keep the demo fast.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.cli.main import main as keys_main
from tests.integration.relayproc import RelayProcess, relay_cli
from tests.support.inprocess import run_main

PASSPHRASE = "secretariat demo passphrase"
CONTACTS = {
    "FR": ("+33 1 40 00 00 01", "Europe/Paris", "en,fr"),
    "DE": ("+49 30 5555 0100", "Europe/Berlin", "en,de"),
    "BR": ("+55 61 2025 0100", "America/Sao_Paulo", "en,pt"),
    "IT": ("+39 06 4000 0001", "Europe/Rome", "en,it"),
}


@contextlib.contextmanager
def _passphrase() -> Iterator[None]:
    old = os.environ.get("POCNET_PASSPHRASE")
    os.environ["POCNET_PASSPHRASE"] = PASSPHRASE
    try:
        yield
    finally:
        if old is None:
            del os.environ["POCNET_PASSPHRASE"]
        else:
            os.environ["POCNET_PASSPHRASE"] = old


def keys_directory(*argv: str | Path) -> Any:
    """``keys directory ARGV --json`` in this process; the parsed output (raise on failure)."""
    with _passphrase():
        code, out, _ = run_main(keys_main, ["directory", *[str(a) for a in argv], "--json"])
    text = out.strip()
    result = json.loads(text.splitlines()[-1]) if text else None
    if code != 0:
        raise RuntimeError(f"keys directory {' '.join(map(str, argv))} exited {code}: {result}")
    return result


@dataclass
class Secretariat:
    """Administrators' keys, the draft being edited and the version last published."""

    folder: Path
    admins: list[Path]
    draft: Path
    published: Path | None = None
    installed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, folder: Path, n: int = 3, threshold: int = 2) -> Secretariat:
        """``n`` administrators and version 1 (``threshold`` of ``n``); writes ``root.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        admins = []
        for i in range(1, n + 1):
            admins.append(folder / f"admin{i}")
            keys_directory(
                "admin-key", "--name", f"XX-ADMIN{i}", "--out", admins[-1], "--kdf", "interactive"
            )
        draft = folder / "draft.json"
        admin_args = [a for x in admins for a in ("--admin", x)]
        keys_directory("init", "--threshold", str(threshold), *admin_args, "--out", draft)
        keys_directory("export-root", draft, "--out", folder / "root.json")
        return cls(folder, admins, draft)

    @property
    def root_file(self) -> Path:
        return self.folder / "root.json"

    def list_network(self, net: Any) -> None:
        """List the relay's key and every node of a :class:`tests.e2e.nodeproc.LocalNetwork`."""
        keys_directory("set-relay", self.draft, "--bundle", net.relay.data / "bundle.json")
        for party, node in net.nodes.items():
            self.add_party(party, node.data / "keys" / "bundle.json")

    def add_party(self, party: str, bundle: Path) -> None:
        phone, tz, languages = CONTACTS.get(party, ("+32 2 000 00 00", "UTC", "en"))
        keys_directory(
            "add-party", self.draft, "--bundle", bundle, "--authority", f"{party} 24/7 PoC",
            "--phone", phone, "--email", f"poc@{party.lower()}.example.org", "--tz", tz,
            "--languages", languages,
        )  # fmt: skip

    def revoke(self, party: str, reason: str) -> None:
        """Start the next version from the published one: ``party`` revoked from now."""
        assert self.published is not None
        keys_directory(
            "revoke", self.published, "--party", party, "--reason", reason, "--out", self.draft
        )

    def suspend(self, party: str, reason: str) -> None:
        """Start the next version from the published one: ``party`` suspended from now."""
        assert self.published is not None
        keys_directory(
            "suspend", self.published, "--party", party, "--reason", reason, "--out", self.draft
        )

    def sign(self, signers: Sequence[int] = (0, 1)) -> Path:
        """Each of ``signers`` signs the draft on their own; combine; verify."""
        parts = []
        for i in signers:
            part = self.folder / f"{self.draft.stem}-{self.admins[i].name}.json"
            keys_directory("sign", self.draft, "--key", self.admins[i], "--out", part)
            parts.append(part)
        version = keys_directory("show", self.draft)["version"]
        out = self.folder / f"directory-v{version}.json"
        keys_directory("combine", *parts, "--out", out)
        previous = (
            ["--previous", self.published] if self.published else ["--trusted-root", self.root_file]
        )
        verified = keys_directory("verify", out, *previous)
        assert verified["valid"], verified
        return out

    def publish(self, relay: RelayProcess, signers: Sequence[int] = (0, 1)) -> dict[str, Any]:
        """Sign, combine, verify and install at the relay (``relay directory install``)."""
        signed = self.sign(signers)
        trust = [] if self.installed else ["--trust-root", str(self.root_file)]
        result = relay_cli(
            "directory", "install", str(signed), *trust, "--data", str(relay.data),
            *relay._db_args(), env=relay.env,
        )  # fmt: skip
        self.published = signed
        self.installed.append(result)
        return dict(result)
