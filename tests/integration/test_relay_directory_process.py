"""End to end: the secretariat makes a 2-of-3 signed directory with the ``keys directory``
command, the operator installs it with ``relay directory install``, a real ``relay serve``
process enforces it, and a revocation installed while it runs shuts the party out.

SQLite, and PostgreSQL when POCNET_TEST_POSTGRES_URL is set. Everything listens on
127.0.0.1; every wait is bounded; what is started is stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys.cli.main import main as keys_main
from keys.directory import TrustedDirectory
from keys.encoding import canonical
from keys.keystore import verify_bundle
from keys.receipts import verify as verify_receipt
from tests.integration.relaykit import (
    create_pg_database,
    drop_pg_database,
    make_member,
    seal,
    skip_without_postgres,
)
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import run_module

pytestmark = pytest.mark.e2e
PASS = "correct horse battery staple"
PICKUP = {"POCNET_RELAY_DIRECTORY_CHECK_SECONDS": "0.2"}


def _keys(*argv: str | Path) -> None:
    """``keys directory …`` in-process (the secretariat's machine); it must succeed."""
    assert keys_main(["directory", *[str(a) for a in argv], "--json"]) == 0, argv


def _relay(*argv: str | Path, env: dict[str, str]) -> tuple[int, Any]:
    """``relay …`` as a subprocess (the operator's machine): exit code and JSON output."""
    proc = run_module("relay", *[str(a) for a in argv], "--json", env=env)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else proc.stderr


def _sign_and_combine(draft: Path, admins: list[Path], out: Path) -> Path:
    parts = []
    for i, admin in enumerate(admins):
        part = draft.with_name(f"{draft.stem}-signed-{i}.json")
        _keys("sign", draft, "--key", admin, "--out", part)
        parts.append(part)
    _keys("combine", *parts, "--out", out)
    return out


async def _scenario(tmp_path: Path, database_url: str | None) -> None:
    sec = tmp_path / "secretariat"
    admins = []
    for i in (1, 2, 3):
        admins.append(sec / f"admin{i}")
        _keys("admin-key", "--name", f"XX-ADMIN{i}", "--out", admins[-1], "--kdf", "interactive")
    relay = RelayProcess.create(tmp_path / "relay", database_url=database_url, env=PICKUP)
    db = ["--database-url", database_url] if database_url else []
    data = ["--data", relay.data, *db]
    fr, de = make_member("FR"), make_member("DE")
    for m in (fr, de):
        (sec / f"{m.party}.json").write_bytes(m.bundle)

    # Version 1: two parties and the relay, signed by two of the three administrators.
    draft = sec / "draft.json"
    _keys("init", "--threshold", "2", *[a for x in admins for a in ("--admin", x)], "--out", draft)
    _keys("set-relay", draft, "--bundle", relay.data / "bundle.json")
    for m in (fr, de):
        _keys(
            "add-party", draft, "--bundle", sec / f"{m.party}.json", "--authority",
            f"{m.party} PoC", "--phone", "+33 1 23 45 67 89", "--email", "poc@example.org",
            "--tz", "Europe/Paris", "--languages", "en,fr",
        )  # fmt: skip
    v1 = _sign_and_combine(draft, admins[:2], sec / "v1.json")
    _keys("export-root", v1, "--out", sec / "root.json")

    under = _sign_and_combine(draft, admins[2:], sec / "v1-under.json")
    code, out = _relay(
        "directory", "install", under, "--trust-root", sec / "root.json", *data, env=PICKUP
    )
    assert (code, out["error"]) == (7, "threshold_not_met")
    code, out = _relay(
        "directory", "install", v1, "--trust-root", sec / "root.json", *data, env=PICKUP
    )
    assert code == 0 and out["installed"]
    first = out["version"]  # each edit raised it: init, set-relay, two add-party

    relay_key = verify_bundle(relay.relay_bundle).signing_key
    with relay.running():
        async with (
            SignedClient(relay.url, "FR", fr.key) as cf,
            SignedClient(relay.url, "DE", de.key) as cd,
        ):
            status, served = await cd.directory()
            assert status == 200 and canonical(served) == v1.read_bytes().strip()
            before = seal(fr, de, datetime.now(UTC))
            status, body = await cf.submit(before.to_bytes())
            assert status == 201
            assert verify_receipt(body["receipt"], relay_key).receipt.type == "ACCEPTED"

            # The secretariat revokes FR; the operator installs version 2 while serving.
            draft2 = sec / "draft2.json"
            _keys("revoke", v1, "--party", "FR", "--reason", "key compromise", "--out", draft2)
            v2 = _sign_and_combine(draft2, [admins[0], admins[2]], sec / "v2.json")
            code, out = _relay("directory", "install", v2, *data, env=PICKUP)
            assert code == 0 and (out["previous_version"], out["version"]) == (first, first + 1)
            changed = {c["path"]: c["new"] for c in out["changes"]}
            assert changed["parties.FR.status.state"] == "revoked"
            assert not [p for p in changed if p.startswith("parties.DE")]

            deadline = time.monotonic() + 10
            while True:
                status, _ = await cf.submit(seal(fr, de, datetime.now(UTC)).to_bytes())
                if status == 403:
                    break
                assert status == 201 and time.monotonic() < deadline, "version 2 not applied"
                await asyncio.sleep(0.1)
            assert (await cf.inbox())[0] == 403
            status, inbox = await cd.inbox()
            assert status == 200 and before.to_wire() in [i["envelope"] for i in inbox["items"]]
            status, served = await cd.directory()
            current = TrustedDirectory.from_stored(v1.read_bytes()).update(
                canonical(served), datetime.now(UTC)
            )
            assert current.version == first + 1
            assert not current.is_active("FR", datetime.now(UTC))

        code, out = _relay("directory", "install", v1, *data, env=PICKUP)
        assert (code, out["error"]) == (7, "rollback")
        code, out = _relay("directory", "status", *data, env=PICKUP)
        assert code == 0 and out["version"] == first + 1 and out["parties"]["revoked"] == 1

    lines = [json.loads(x) for x in relay.output().splitlines() if x.strip().startswith("{")]
    loaded = [x["version"] for x in lines if x["event"] == "directory.loaded"]
    assert loaded == [first, first + 1]


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCNET_PASSPHRASE", PASS)


async def test_directory_installed_enforced_and_revoked_on_sqlite(tmp_path: Path) -> None:
    await _scenario(tmp_path, None)


@pytest.mark.postgres
async def test_directory_installed_enforced_and_revoked_on_postgres(tmp_path: Path) -> None:
    skip_without_postgres()
    url = await create_pg_database()
    try:
        await _scenario(tmp_path, url)
    finally:
        await drop_pg_database(url)
