"""Fixtures of the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.relaykit import create_pg_database, drop_pg_database, skip_without_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def process_database_url(request: Any) -> Iterator[str | None]:
    """For a relay *process*: None (SQLite in its data folder), or a new PostgreSQL
    database's URL, dropped afterwards (skipped without PostgreSQL)."""
    if request.param == "sqlite":
        yield None
        return
    skip_without_postgres()
    url = asyncio.run(create_pg_database())
    try:
        yield url
    finally:
        asyncio.run(drop_pg_database(url))
