"""Every command docs/operations.md shows in a code block is run by the test suite.

The page's ``sh`` blocks are split into commands (continuation lines joined; ``&&``, ``|``,
``;`` split; comments and redirections dropped). Each command must start with a key of
:data:`TESTED`, which names the test file that runs it and a piece of that file's text
that does; this test checks the piece is there. A command added to the page without a test
fails here; so does a test that no longer runs a command the page shows.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operations.md"

# command prefix: (test file, text in that file showing it runs the command)
TESTED: dict[str, tuple[str, str]] = {
    "relay init --data": ("tests/integration/relayproc.py", 'relay_cli("init", "--data"'),
    "relay init --data DIR --passphrase-file": (
        "tests/integration/test_deploy.py",
        'entrypoint("setup", env=env)',  # deploy/relay-entrypoint.sh: init --passphrase-file
    ),
    "relay db upgrade": ("tests/integration/relayproc.py", 'relay_cli("db", "upgrade"'),
    "relay serve": ("tests/integration/relayproc.py", '["serve", "--data"'),
    "relay directory install": ("tests/e2e/secretariat.py", '"directory", "install"'),
    "relay directory status": ("tests/unit/relay/test_directory_cli.py", '"directory", "status"'),
    "relay directory show": ("tests/unit/relay/test_directory_cli.py", '"directory", "show"'),
    "relay logs": ("tests/integration/test_relay_process.py", 'run_module("relay", "logs"'),
    "relay stats": ("tests/unit/relay/test_stats.py", '["stats", *data, "--format", "csv"]'),
    "relay status": ("tests/integration/test_relay_status.py", '"relay", "status", "--data"'),
    "relay audit checkpoint": (
        "tests/integration/test_relay_audit_process.py",
        'relay_cli("audit", "checkpoint"',
    ),
    "relay audit tail": ("tests/unit/relay/test_audit_verify.py", '"audit", "tail"'),
    "relay audit tail --follow": (
        "tests/integration/test_relay_audit_process.py",
        '"audit", "tail", "--follow"',
    ),
    "relay audit verify": (
        "tests/integration/test_relay_audit_process.py",
        'relay_cli("audit", "verify"',
    ),
    "export POCNET_RELAY_DATABASE_URL=": (
        "tests/integration/test_deploy.py",
        'env["POCNET_RELAY_DATABASE_URL"] = database_url',
    ),
    "systemd-analyze verify": ("tests/integration/test_deploy.py", '[SYSTEMD_ANALYZE, "verify"'),
    "caddy validate --config": ("tests/integration/test_deploy.py", '[CADDY, "validate"'),
    "promtool check rules": ("tests/integration/test_operator_view.py", '"check", "rules"'),
    "promtool check config": ("tests/integration/test_operator_view.py", '"check", "config"'),
    "promtool test rules": ("tests/integration/test_operator_view.py", '"test", "rules"'),
    "pg_basebackup -d": ("tests/support/pgcluster.py", '"pg_basebackup", "-d", conninfo'),
    "pg_ctl promote -D": ("tests/support/pgcluster.py", '"pg_ctl", "promote", "-D"'),
    "psql -XAtc": ("tests/support/pgcluster.py", '"-XAtc", sql'),
}


def shown_commands(text: str) -> list[str]:
    """The commands of the page's ``sh`` blocks, with paths and values replaced by DIR
    where they follow ``--data``."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s#\s.*$", "", line).strip()
            if not line or line.startswith("#"):
                continue
            for part in re.split(r"&&|\||;", line):
                words = shlex.split(re.sub(r"[<>]\s*\S+", "", part))  # no redirections
                if words:
                    commands.append(" ".join(words))
    return commands


def _key(command: str) -> str | None:
    normal = re.sub(r"--data \S+", "--data DIR", command)
    keys = [k for k in TESTED if normal.startswith(k) or command.startswith(k)]
    return max(keys, key=len) if keys else None


def test_every_command_on_the_page_is_run_by_a_test() -> None:
    commands = shown_commands(PAGE.read_text())
    assert len(commands) >= 25
    untested = [c for c in commands if _key(c) is None]
    assert not untested, "commands shown in docs/operations.md that no test runs:\n" + "\n".join(
        untested
    )
    used = {_key(c) for c in commands}
    assert used == set(TESTED), (
        f"TESTED lists commands the page no longer shows: {set(TESTED) - used}"
    )


def test_each_listed_test_runs_its_command() -> None:
    for key, (path, text) in TESTED.items():
        source = (ROOT / path).read_text()
        assert text in source, f"{path} no longer runs {key!r} (looked for {text!r})"


def test_commands_are_split_as_a_shell_would() -> None:
    page = "```sh\nrelay a --data /x && relay b \\\n  --flag # note\n# a comment\nx | y < f\n```\n"
    assert shown_commands(page) == ["relay a --data /x", "relay b --flag", "x", "y"]
    assert _key("relay init --data /var/lib/r --passphrase-file /etc/p") == (
        "relay init --data DIR --passphrase-file"
    )
    assert _key("relay audit tail --follow --data /d") == "relay audit tail --follow"
    assert _key("rm -rf /") is None
