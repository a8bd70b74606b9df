"""relay.storage.database.asyncpg_dsn: the URL asyncpg itself connects with (listener,
leader lock, audit tail) keeps every host of a primary-and-standbys URL."""

from __future__ import annotations

import pytest

from relay.storage.database import asyncpg_dsn


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql+asyncpg://relay:pw@db:5432/pocnet",
            "postgresql://relay:pw@db:5432/pocnet",
            id="one-host",
        ),
        pytest.param(
            "postgresql+asyncpg://relay@/pocnet?host=/run/postgresql",
            "postgresql://relay@/pocnet?host=%2Frun%2Fpostgresql",
            id="unix-socket-stays-a-parameter",
        ),
        pytest.param(
            "postgresql+asyncpg://relay:pw@/pocnet?host=db1:5432&host=db2:5433"
            "&target_session_attrs=read-write",
            "postgresql://relay:pw@db1:5432,db2:5433/pocnet?target_session_attrs=read-write",
            id="several-hosts-become-asyncpg-hosts",
        ),
        pytest.param(
            "postgresql+asyncpg://relay:p%40ss%2Fw@/pocnet?host=db1&host=db2",
            "postgresql://relay:p%40ss%2Fw@db1,db2/pocnet",
            id="password-quoted",
        ),
    ],
)
def test_asyncpg_dsn(url: str, expected: str) -> None:
    assert asyncpg_dsn(url) == expected
