"""relay.cli.workers: the restart decision as a table, and SQLite refusing several workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.errors import ConfigError
from keys.host.command import EXIT_CONFIG
from relay.cli.workers import Exit, RestartPolicy, Slot, after_exit
from relay.config import RelayConfig

POLICY = RestartPolicy(first_delay=0.5, max_delay=30.0, healthy_after=30.0)


@pytest.mark.parametrize(
    ("slot", "code", "ran", "expected"),
    [
        pytest.param(Slot(1, 0), 1, 0.2, Exit(Slot(1, 1), 0.5), id="first-crash-short-delay"),
        pytest.param(Slot(3, 2), 137, 1.0, Exit(Slot(3, 3), 2.0), id="crash-loop-doubles"),
        pytest.param(Slot(9, 8), 1, 1.0, Exit(Slot(9, 9), 30.0), id="doubling-capped"),
        pytest.param(Slot(5, 4), 137, 3600.0, Exit(Slot(5, 0), 0.0), id="killed-after-long-run"),
        pytest.param(Slot(1, 0), 0, 3600.0, Exit(Slot(1, 0), 0.0), id="clean-exit-restarted"),
        pytest.param(
            Slot(1, 0), EXIT_CONFIG, 0.5, Exit(Slot(1, 0), None, EXIT_CONFIG), id="config-at-start"
        ),
        pytest.param(
            Slot(2, 0), EXIT_CONFIG, 0.5, Exit(Slot(2, 1), 0.5), id="config-error-on-a-restart"
        ),
        pytest.param(
            Slot(1, 0), EXIT_CONFIG, 60.0, Exit(Slot(1, 0), 0.0), id="config-error-after-a-run"
        ),
    ],
)
def test_after_exit(slot: Slot, code: int, ran: float, expected: Exit) -> None:
    assert after_exit(slot, code, ran, POLICY) == expected


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ConfigError, match="workers"):
        RelayConfig(workers=0)


def test_sqlite_relay_refuses_several_workers(tmp_path: Path) -> None:
    from tests.integration.relayproc import RelayProcess
    from tests.support.processes import run_module

    relay = RelayProcess.create(tmp_path / "relay")
    proc = run_module("relay", "serve", "--data", str(relay.data), "--workers", "2", "--json")
    assert proc.returncode == EXIT_CONFIG, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "needs PostgreSQL" in out and "SQLite lets one process write" in out
