"""``relay status`` against a real relay process, on SQLite and PostgreSQL: what the database
says (pending and OVERDUE per recipient, checkpoint, schema, directory) and what the running
process says (members' last polls); then with the relay stopped, and with the database gone."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keys.errors import ValidationError
from relay.cli.status import attention, read_live
from relay.config import RelayConfig
from relay.storage.database import head_revision
from tests.integration.relaykit import make_member, seal
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import run_module, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def status(relay: RelayProcess, *extra: str) -> tuple[int, dict[str, Any]]:
    db = ["--database-url", relay.database_url] if relay.database_url else []
    proc = run_module(
        "relay", "status", "--data", str(relay.data), "--url", relay.url, *db, *extra, "--json"
    )
    assert proc.returncode in (0, 7), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


async def _emergency_then_poll(relay: RelayProcess, fr: Any, de: Any, it: Any) -> None:
    """FR sends DE an emergency; DE downloads it without confirming; IT only polls."""
    async with (
        SignedClient(relay.url, "FR", fr.key) as cf,
        SignedClient(relay.url, "DE", de.key) as cd,
        SignedClient(relay.url, "IT", it.key) as ci,
    ):
        env = seal(fr, de, datetime.now(UTC), priority="emergency", ttl=timedelta(hours=1))
        assert (await cf.submit(env.to_bytes()))[0] == 201
        assert (await cd.inbox())[0] == 200
        assert (await ci.inbox())[0] == 200


def test_relay_status(tmp_path: Path, process_database_url: str | None) -> None:
    relay = RelayProcess.create(
        tmp_path / "relay",
        database_url=process_database_url,
        env={"POCNET_RELAY_OVERDUE_EMERGENCY_SECONDS": "1"},
    )
    members = {p: make_member(p) for p in ("FR", "DE", "IT")}
    for member in members.values():
        relay.add_member(member.bundle)
    with relay.running():
        asyncio.run(_emergency_then_poll(relay, members["FR"], members["DE"], members["IT"]))
        code, doc = wait_for(
            lambda: (got := status(relay)) and got[1]["overdue"] == 1 and got,
            timeout=60,
            what="the emergency OVERDUE in relay status",
        )
        text = run_module(
            "relay",
            "status",
            "--data",
            str(relay.data),
            "--url",
            relay.url,
            *(["--database-url", process_database_url] if process_database_url else []),
        )
    assert code == 7 and doc["ok"] is False
    assert doc["attention"] == ["1 OVERDUE envelope(s) undelivered to DE: call its 24/7 number"]
    assert doc["relay"]["answering"] and doc["relay"]["started"]
    assert doc["database"]["reachable"] and doc["database"]["schema"] == head_revision()
    assert doc["database"]["schema_current"] and doc["database"]["answered_ms"] >= 0
    assert doc["directory"]["mode"] == "members_folder"
    assert doc["checkpoint"]["tree_size"] >= 2 and doc["checkpoint"]["age"] >= 0
    by_party = {m["party"]: m for m in doc["members"]}
    assert sorted(by_party) == ["DE", "FR", "IT"]
    assert (by_party["DE"]["pending"], by_party["DE"]["overdue"]) == (1, 1)
    assert by_party["DE"]["connected"] and by_party["IT"]["connected"]
    assert not by_party["FR"]["connected"] and by_party["FR"]["last_poll"] is None
    assert doc["connected"] == 2 and doc["pending"] == 1
    # The same on one screen, for a person.
    assert text.returncode == 7, text.stderr
    assert "2 of 3 connected" in text.stdout and "NEEDS ATTENTION" in text.stdout
    assert "not since the relay started" in text.stdout  # FR

    # Relay stopped: the database's half is still there; the live half is missing and said so.
    code, doc = status(relay)
    assert code == 7 and not doc["relay"]["answering"]
    assert doc["attention"][0].startswith("relay process: no answer from")
    assert doc["attention"][1].startswith("1 OVERDUE envelope(s) undelivered to DE")
    assert doc["pending"] == 1 and doc["overdue"] == 1 and doc["connected"] == 0


def test_only_a_web_address_is_asked() -> None:
    with pytest.raises(ValidationError, match="--url must start with http"):
        read_live("file:///etc/passwd", timeout=1)


def test_database_gone_is_said_first() -> None:
    doc = {
        "database": {"reachable": False, "error": "connection refused", "schema_current": False},
        "relay": {"answering": True, "error": None},
        "members": [{"party": "FR", "overdue": None, "connected": True}],
        "directory": None,
        "checkpoint": None,
        "connected": 1,
    }
    assert attention(doc, RelayConfig()) == ["database unreachable: connection refused"]


@pytest.mark.parametrize(
    ("expires_in", "age", "said"),
    [
        (40 * 86400, 10, []),
        (
            20 * 86400,
            10,
            ["directory version 7 expires in 20 days: ask the secretariat for a renewed one"],
        ),
        (-5, 10, ["directory version 7 has EXPIRED"]),
        (40 * 86400, 901, ["no audit checkpoint signed in the last 900 s"]),
    ],
    ids=["healthy", "expiring", "expired", "checkpoint-stale"],
)
def test_directory_and_checkpoint_verdicts(expires_in: int, age: int, said: list[str]) -> None:
    doc = {
        "database": {"reachable": True, "schema_current": True},
        "relay": {"answering": True},
        "members": [{"party": "FR", "overdue": 0, "connected": True}],
        "directory": {"version": 7, "expires_in": expires_in},
        "checkpoint": {"age": age},
        "connected": 1,
    }
    assert attention(doc, RelayConfig()) == said
