"""``relay stats``: counts and times per counterpart pair from envelope metadata."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from keys.errors import LocalError
from relay.cli.main import main
from relay.core.stats import relay_stats, to_csv, to_table
from relay.storage.database import make_engine
from relay.storage.metadata import EnvelopeMeta, envelope_metadata
from relay.storage.schema import envelopes, receipts
from tests.integration.relaykit import database

T = datetime(2025, 2, 10, 9, 0, tzinfo=UTC)


def meta(
    sender: str,
    recipient: str,
    *,
    day: int = 0,
    priority: str = "routine",
    delivered: float | None = None,
    acked: float | None = None,
    overdue: bool = False,
) -> EnvelopeMeta:
    at = T + timedelta(days=day)
    return EnvelopeMeta(
        sender=sender,
        recipient=recipient,
        priority=priority,
        created_at=at,
        accepted_at=at,
        overdue_at=at + timedelta(hours=1) if overdue else None,
        delivered_at=at + timedelta(seconds=delivered) if delivered is not None else None,
        acknowledged_at=at + timedelta(seconds=acked) if acked is not None else None,
    )


ROWS = [
    meta("FR", "DE", priority="urgent", delivered=2, acked=600),
    meta("FR", "DE", delivered=4, acked=60),
    meta("FR", "DE", delivered=10, overdue=True),
    meta("BR", "DE", priority="emergency", delivered=1, acked=120),
    meta("FR", "DE", day=30, delivered=3),  # March
]


def test_known_answers() -> None:
    stats = relay_stats(ROWS, now=T)
    assert (stats["envelopes"], stats["overdue"]) == (5, 1)
    pairs = {(p["period"], p["sender"], p["recipient"]): p for p in stats["pairs"]}
    assert list(pairs) == [
        ("2025-02", "BR", "DE"),
        ("2025-02", "FR", "DE"),
        ("2025-03", "FR", "DE"),
    ]
    feb = pairs[("2025-02", "FR", "DE")]
    assert feb["envelopes"] == 3 and feb["by_priority"] == {"routine": 2, "urgent": 1}
    assert feb["overdue"] == 1
    assert feb["time_to_delivered"] == {"count": 3, "median_s": 4.0, "p90_s": 10.0}
    assert feb["time_to_acknowledged"] == {"count": 2, "median_s": 330.0, "p90_s": 600.0}
    rows = list(csv.reader(io.StringIO(to_csv(stats))))
    assert rows[0] == ["period", "sender", "recipient", "metric", "value"]
    assert ["2025-02", "FR", "DE", "envelopes_urgent", "1"] in rows
    assert ["2025-02", "FR", "DE", "time_to_acknowledged_p90_s", "600.0"] in rows
    assert "5.5 min / 10.0 min" in to_table(stats)


def _row(i: int, sender: str, recipient: str, at: datetime, priority: str) -> dict[str, Any]:
    return {
        "msg_id": f"{i:032x}",
        "sender": sender,
        "recipient": recipient,
        "priority": priority,
        "state": "delivered",
        "created_at": at,
        "expires_at": at + timedelta(days=30),
        "accepted_at": at,
        "overdue_at": None,
        "final_at": None,
        "envelope_sha256": f"{i:064x}",
        "size": 100,
        "header": b"{}",
        "envelope": b"x",
        "accepted_receipt": b"{}",
        "leaf_index": i,
    }


def _receipt(i: int, type_: str, issuer: str, at: datetime) -> dict[str, Any]:
    return {
        "msg_id": f"{i:032x}",
        "type": type_,
        "issuer": issuer,
        "issued_at": at,
        "receipt_sha256": f"{i:056x}{type_[:4].encode().hex()}",
        "receipt": b"{}",
    }


async def _seed(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(envelopes),
                [
                    _row(1, "FR", "DE", T, "urgent"),
                    _row(2, "FR", "DE", T + timedelta(minutes=5), "routine"),
                    _row(3, "DE", "FR", T + timedelta(days=40), "routine"),
                ],
            )
            await conn.execute(
                insert(receipts),
                [
                    _receipt(1, "DELIVERED", "relay", T + timedelta(seconds=3)),
                    _receipt(1, "ACKNOWLEDGED", "DE", T + timedelta(seconds=90)),
                    _receipt(1, "RETRIEVED", "DE", T + timedelta(seconds=4)),
                ],
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_metadata_query_reads_first_receipts_and_bounds(kind: str, tmp_path: Path) -> None:
    async with database(kind, tmp_path) as url:
        await _seed(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                all_rows = await envelope_metadata(conn, start=None, end=None)
                feb = await envelope_metadata(
                    conn,
                    start=datetime(2025, 2, 1, tzinfo=UTC),
                    end=datetime(2025, 3, 1, tzinfo=UTC),
                )
        finally:
            await engine.dispose()
    assert len(all_rows) == 3 and len(feb) == 2
    first = feb[0]
    assert (first.sender, first.recipient, first.priority) == ("FR", "DE", "urgent")
    assert first.delivered_at == T + timedelta(seconds=3)
    assert first.acknowledged_at == T + timedelta(seconds=90)
    assert feb[1].delivered_at is None


async def test_too_many_envelopes_is_an_error_not_a_silent_undercount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relay.storage.metadata.MAX_ROWS", 2)
    async with database("sqlite", tmp_path) as url:
        await _seed(url)  # three envelopes
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                feb = await envelope_metadata(
                    conn,
                    start=datetime(2025, 2, 1, tzinfo=UTC),
                    end=datetime(2025, 3, 1, tzinfo=UTC),
                )
                with pytest.raises(LocalError) as info:
                    await envelope_metadata(conn, start=None, end=None)
        finally:
            await engine.dispose()
    assert len(feb) == 2
    assert "--since" in info.value.message


async def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with database("sqlite", tmp_path) as url:  # tmp_path/relay.db: the --data layout
        await _seed(url)
        capsys.readouterr()
        data = ["--data", str(tmp_path)]
        code = await asyncio.to_thread(
            main, ["stats", *data, "--since", "2025-02-01", "--until", "2025-02-28", "--json"]
        )
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["envelopes"] == 2
        [pair] = out["pairs"]
        assert pair["time_to_delivered"]["median_s"] == 3.0
        code = await asyncio.to_thread(main, ["stats", *data, "--format", "csv"])
        assert code == 0 and capsys.readouterr().out.startswith("period,sender,recipient")
        code = await asyncio.to_thread(main, ["stats", *data, "--since", "yesterday"])
        assert code != 0
