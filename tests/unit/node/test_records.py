"""node/storage/records.py: times are datetime inside, the stored strings at the edges."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest

from keys.encoding import format_time
from keys.errors import DecodeError
from node.storage.records import AccessRecord, Rejection, StoredMessage, StoredReceipt

STAMP = "2025-03-01T09:30:00.125Z"
MOMENT = datetime(2025, 3, 1, 9, 30, 0, 125000, tzinfo=UTC)
RECORDS = [StoredMessage, StoredReceipt, AccessRecord, Rejection]


def _row(cls: type, time: str | None = STAMP) -> dict[str, Any]:
    """A row as the table gives it: every time field a string (or NULL)."""
    row: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "at" or f.name.endswith("_at"):
            row[f.name] = time
        elif f.type.startswith("bytes"):
            row[f.name] = b"{}"
        elif f.type.startswith(("int", "bool")):
            row[f.name] = 0
        else:
            row[f.name] = "x"
    return row


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_every_time_field_is_a_datetime(cls: type) -> None:
    record = cls.from_row(_row(cls))  # type: ignore[attr-defined]
    times = [f.name for f in fields(cls) if f.name == "at" or f.name.endswith("_at")]
    assert times, cls
    for name in times:
        assert getattr(record, name) == MOMENT, name


@pytest.mark.parametrize("cls", [StoredMessage, StoredReceipt], ids=lambda c: c.__name__)
def test_null_times_stay_none(cls: type) -> None:
    row = _row(cls)
    optional = [f.name for f in fields(cls) if f.type == "datetime | None"]
    row.update(dict.fromkeys(optional, None))
    record = cls.from_row(row)  # type: ignore[attr-defined]
    assert optional and all(getattr(record, name) is None for name in optional)


def test_outputs_show_the_stored_strings() -> None:
    message = StoredMessage.from_row(_row(StoredMessage))
    assert message.summary()["created_at"] == STAMP == format_time(message.created_at)
    access = AccessRecord.from_row(_row(AccessRecord))
    assert access.to_dict()["at"] == STAMP


def test_a_damaged_time_in_the_database_is_an_error() -> None:
    with pytest.raises(DecodeError):
        Rejection.from_row(_row(Rejection, "yesterday"))
