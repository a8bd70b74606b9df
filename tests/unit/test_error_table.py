# ruff: noqa: E501 - the table reads best one error path per line
"""Who is at fault, in clear words: one table of error paths of ``node``, ``relay`` and
``keys``, each pinned to its exit code, stable error code, a fragment of its message
(:data:`MESSAGES`: what a person needs to act) and the fault named in it (issue 11).

Each row runs the real command in this process (:func:`tests.support.inprocess.run_main`)
against folders made once for the module: an initialised node whose relay is not running,
an initialised relay, a key folder, and files with typical mistakes. The fault words are
those of :meth:`keys.errors.PocnetError.diagnostics`: ``your input`` (what the person typed
or gave), ``this installation`` (configuration, keys, files here), ``the remote party``
(what a peer sent). Usage errors (argparse) exit 2 with its own message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from keys.cli.main import main as keys_main
from node.cli.main import main as node_main
from relay.cli.main import main as relay_main
from tests.support.inprocess import run_main
from tests.support.processes import free_port

INPUT, HERE, PEER = "your input", "this installation", "the remote party"
MAINS: dict[str, Callable[[list[str]], int]] = {
    "node": node_main,
    "relay": relay_main,
    "keys": keys_main,
}

# (name, tool, argv with {placeholders}, exit code, error code or None, fault words or None)
CASES: list[tuple[str, str, str, int, str | None, str | None]] = [
    # -- node: what the officer typed or gave -----------------------------------------------
    ("send: party id not a code", "node", "send --to France --kind ping --no-input --data {node}", 5, "bad_party_id", INPUT),
    ("send: to oneself (lower case)", "node", "send --to fr --kind ping --no-input --data {node}", 5, "self_recipient", INPUT),
    ("send: form file missing", "node", "send --to DE --kind ping --form {tmp}/none.json --no-input --data {node}", 4, "file_not_found", HERE),
    ("send: form JSON broken", "node", "send --to DE --kind ping --form {bad_json} --no-input --data {node}", 5, "malformed", INPUT),
    ("send: form TOML broken", "node", "send --to DE --kind ping --form {bad_toml} --no-input --data {node}", 5, "malformed", INPUT),
    ("send: form duplicate key", "node", "send --to DE --kind ping --form {dup_json} --no-input --data {node}", 5, "duplicate_key", INPUT),
    ("send: form a list", "node", "send --to DE --kind ping --form {list_json} --no-input --data {node}", 5, "malformed", INPUT),
    ("send: form too large", "node", "send --to DE --kind ping --form {big_json} --no-input --data {node}", 5, "too_large", INPUT),
    ("send: form a folder", "node", "send --to DE --kind ping --form {tmp} --no-input --data {node}", 5, "invalid_field", INPUT),
    ("send: incomplete form", "node", "send --to DE --kind preservation_request --form {empty_json} --no-input --data {node}", 5, "form_invalid", INPUT),
    ("send: unknown kind", "node", "send --to DE --kind gossip --no-input --data {node}", 2, None, None),
    ("send: unknown priority", "node", "send --to DE --kind ping --priority asap --no-input --data {node}", 2, None, None),
    ("send: unknown party", "node", "send --to PT --kind ping --no-input --data {node}", 6, "relay_unreachable", None),
    ("show: unknown message", "node", "show 00000000 --data {node}", 4, "message_not_found", HERE),
    ("ack: unknown message", "node", "ack ffffffff --data {node}", 4, "message_not_found", HERE),
    ("respond: unknown message", "node", "respond ffffffff --kind status_update --no-input --data {node}", 4, "message_not_found", HERE),
    ("status: unknown message", "node", "status ffffffff --data {node}", 4, "message_not_found", HERE),
    ("evidence: unknown message", "node", "evidence ffffffff --out {tmp}/b.json --data {node}", 4, "message_not_found", HERE),
    ("evidence verify: file missing", "node", "evidence verify {tmp}/none.json --data {node}", 4, "file_not_found", HERE),
    ("stats: since not a time", "node", "stats --since lastweek --data {node}", 5, "bad_time", INPUT),
    ("stats: since a bad date", "node", "stats --since 2026-02-30 --data {node}", 5, "bad_time", INPUT),
    ("access: since not a time", "node", "access --since soon --data {node}", 5, "bad_time", INPUT),
    ("stats: unknown format", "node", "stats --format xml --data {node}", 2, None, None),
    ("directory pin: root file missing", "node", "directory pin {tmp}/none.json --data {node}", 4, "file_not_found", HERE),
    ("directory refresh --file: no root pinned", "node", "directory refresh --file {bad_json} --data {node}", 8, "root_not_pinned", HERE),
    ("init: party id not a code", "node", "init --party F --relay http://127.0.0.1:1 --no-passphrase --data {tmp}/n1", 5, "bad_party_id", INPUT),
    ("init: already a node", "node", "init --party FR --relay http://127.0.0.1:1 --no-passphrase --data {node}", 8, "already_initialised", HERE),
    ("forms: unknown kind", "node", "forms gossip --data {node}", 2, None, None),
    ("no command", "node", "", 2, None, None),
    # -- node: this installation -------------------------------------------------------------
    ("inbox: no node here", "node", "inbox --data {empty}", 8, "not_initialised", HERE),
    ("inbox: node.toml broken", "node", "inbox --data {broken_node}", 8, "config_invalid", HERE),
    ("inbox: unknown setting", "node", "inbox --data {unknown_setting}", 8, "config_invalid", HERE),
    ("send: keystore missing", "node", "send --to DE --kind ping --no-input --data {no_keystore}", 3, "keystore_missing", HERE),
    ("run: second daemon", "node", "run --data {locked}", 8, "daemon_running", HERE),
    ("audit check: relay down", "node", "audit check --data {node}", 6, None, None),
    ("directory refresh: relay down", "node", "directory refresh --data {node}", 6, "relay_unreachable", HERE),
    ("doctor: relay down", "node", "doctor --data {node}", 8, None, None),
    # -- relay ----------------------------------------------------------------------------------
    ("relay: no command", "relay", "", 2, None, None),
    ("relay serve: no relay here", "relay", "serve --data {empty}", 8, "config_invalid", HERE),
    ("relay members add: bundle missing", "relay", "members add {tmp}/none.json --data {relay}", 4, "not_found", INPUT),
    ("relay members add: bundle not JSON", "relay", "members add {bad_json} --data {relay}", 5, "malformed", INPUT),
    ("relay members suspend: not a member", "relay", "members suspend PT --data {relay}", 4, "not_found", INPUT),
    ("relay init: already a relay", "relay", "init --no-passphrase --data {relay}", 3, "keystore_exists", HERE),
    ("relay serve: bad port", "relay", "serve --port eighty --data {relay}", 2, None, None),
    # -- keys -----------------------------------------------------------------------------------
    ("keys: no command", "keys", "", 2, None, None),
    ("keys generate: party id not a code", "keys", "generate --party Francia --out {tmp}/k1 --no-passphrase", 5, "bad_party_id", INPUT),
    ("keys generate: keys already there", "keys", "generate --party FR --out {keys} --no-passphrase", 3, "keystore_exists", HERE),
    ("keys show: no such folder", "keys", "show {tmp}/none", 4, "not_found", HERE),
    ("keys verify-bundle: not JSON", "keys", "verify-bundle {bad_json}", 5, "malformed", INPUT),
    ("keys verify-bundle: missing", "keys", "verify-bundle {tmp}/none.json", 4, "not_found", INPUT),
    ("keys directory show: missing file", "keys", "directory show {tmp}/none.json", 4, "not_found", HERE),
]  # fmt: skip


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("errors")
    relay_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    def node_folder(name: str) -> Path:
        data = tmp / name
        argv = [
            "init",
            "--party",
            "FR",
            "--relay",
            relay_url,
            "--no-passphrase",
            "--data",
            str(data),
        ]
        code, out, err = run_main(node_main, [*argv, "--kdf", "interactive"])
        assert code == 0, out + err
        return data

    node = node_folder("node")
    broken = node_folder("broken")
    (broken / "node.toml").write_text("party = \n")
    unknown = node_folder("unknown")
    (unknown / "node.toml").write_text((unknown / "node.toml").read_text() + "\n[pager]\nx = 1\n")
    no_keystore = node_folder("nokeys")
    (no_keystore / "keys" / "keystore.json").unlink()
    locked = node_folder("locked")
    relay = tmp / "relay"
    code, out, err = run_main(
        relay_main, ["init", "--no-passphrase", "--kdf", "interactive", "--data", str(relay)]
    )
    assert code == 0, out + err
    keys = tmp / "keys"
    code, out, err = run_main(
        keys_main, ["generate", "--party", "FR", "--out", str(keys), "--no-passphrase"]
    )
    assert code == 0, out + err
    files = {
        "bad_json": ("bad.json", '{\n  "a": 1,\n  oops\n}'),
        "bad_toml": ("bad.toml", "a = 1\nb = = 2\n"),
        "dup_json": ("dup.json", '{"a": 1, "a": 2}'),
        "list_json": ("list.json", "[1, 2]"),
        "empty_json": ("empty.json", "{}"),
        "big_json": ("big.json", json.dumps({"a": "x" * 300_000})),
    }
    out_files = {}
    for key, (name, text) in files.items():
        (tmp / name).write_text(text)
        out_files[key] = str(tmp / name)
    (tmp / "empty").mkdir()
    return {
        "tmp": str(tmp),
        "node": str(node),
        "broken_node": str(broken),
        "unknown_setting": str(unknown),
        "no_keystore": str(no_keystore),
        "locked": str(locked),
        "relay": str(relay),
        "keys": str(keys),
        "empty": str(tmp / "empty"),
        **out_files,
    }


# What each message must say (a fragment), so that a person knows what to do.
MESSAGES: dict[str, str] = {
    "send: party id not a code": "is not an ISO 3166-1 alpha-2 code",
    "send: to oneself (lower case)": "you cannot send a request to yourself",
    "send: form file missing": "no form file at",
    "send: form JSON broken": "not valid JSON at line 3, column 3",
    "send: form TOML broken": "(at line 2, column 5)",
    "send: form duplicate key": "duplicate key",
    "send: form a list": "expected a JSON object",
    "send: form too large": "the limit is 262144",
    "send: form a folder": "Is a directory",
    "send: incomplete form": "fix these fields and send again",
    "send: unknown kind": "invalid choice: 'gossip'",
    "send: unknown priority": "invalid choice: 'asap'",
    "send: unknown party": "check the network and relay.url in node.toml",
    "show: unknown message": "list them with 'node inbox'",
    "ack: unknown message": "is not in this node",
    "respond: unknown message": "is not in this node",
    "status: unknown message": "is not in this node",
    "evidence: unknown message": "is not in this node",
    "evidence verify: file missing": "no evidence file at",
    "stats: since not a time": "use YYYY-MM-DD",
    "stats: since a bad date": "'2026-02-30' is not a time",
    "access: since not a time": "7d",
    "stats: unknown format": "invalid choice: 'xml'",
    "directory pin: root file missing": "no root file at",
    "directory refresh --file: no root pinned": "node directory pin ROOT.json",
    "init: party id not a code": "'F' is not an ISO 3166-1",
    "init: already a node": "use --force to replace it",
    "forms: unknown kind": "invalid choice",
    "no command": "required",
    "inbox: no node here": "create a node with 'node init'",
    "inbox: node.toml broken": "(at line 1, column 9)",
    "inbox: unknown setting": "unknown setting(s) in node.toml: pager",
    "send: keystore missing": "check keystore.path in node.toml",
    "run: second daemon": "already serves",
    "audit check: relay down": "relay_unreachable",
    "directory refresh: relay down": "did not answer",
    "doctor: relay down": "FAIL  relay reachable",
    "relay: no command": "required",
    "relay serve: no relay here": "run 'relay init",
    "relay members add: bundle missing": "No such file or directory",
    "relay members add: bundle not JSON": "not valid JSON at line 3, column 3",
    "relay members suspend: not a member": "PT is not a member",
    "relay init: already a relay": "--force replaces it",
    "relay serve: bad port": "invalid int value: 'eighty'",
    "keys: no command": "required",
    "keys generate: party id not a code": "'Francia' is not an ISO 3166-1",
    "keys generate: keys already there": "use --force to replace them",
    "keys show: no such folder": "cannot read",
    "keys verify-bundle: not JSON": "not valid JSON at line 3, column 3",
    "keys verify-bundle: missing": "No such file or directory",
    "keys directory show: missing file": "no directory file at",
}


def test_the_table_covers_at_least_40_paths_of_the_three_commands() -> None:
    assert len(CASES) >= 40
    assert {c[1] for c in CASES} == {"node", "relay", "keys"}
    assert len({c[0] for c in CASES}) == len(CASES)
    assert set(MESSAGES) == {c[0] for c in CASES}  # every path pins its message


@pytest.mark.parametrize(
    ("name", "tool", "argv", "exit_code", "code", "fault"), CASES, ids=[c[0] for c in CASES]
)
def test_error_path(
    places: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    tool: str,
    argv: str,
    exit_code: int,
    code: str | None,
    fault: str | None,
) -> None:
    monkeypatch.delenv("POCNET_PASSPHRASE", raising=False)
    monkeypatch.delenv("POCNET_NODE_DATA", raising=False)
    args = [a.format(**places) for a in argv.split()]
    if "{locked}" in argv:
        from node.daemon.lock import daemon_lock

        with daemon_lock(Path(places["locked"])):
            got = _held_elsewhere(tool, args)
    else:
        got = run_main(MAINS[tool], args)
    status, out, err = got
    assert status == exit_code, (out, err)
    text = err + out
    assert MESSAGES[name] in text, text
    if exit_code == 2:
        assert "usage:" in err
        return
    assert "Traceback" not in text
    if code is not None:
        assert f"code {code};" in text, text
    if fault is not None:
        assert f"caused by {fault})" in text, text
    assert "caused by the remote party" not in text or fault == PEER, text


def _held_elsewhere(tool: str, args: list[str]) -> tuple[int, str, str]:
    """The lock is per open file: a second daemon is another process."""
    import subprocess
    import sys

    from tests.support.processes import ROOT

    result = subprocess.run(
        [sys.executable, "-m", tool, *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    return result.returncode, result.stdout, result.stderr


# -- relative times as a person types them (node/cli/when.py) ----------------------------

NOW = "2026-01-10T03:00:00+00:00"
SINCE = [
    ("a date", "2026-01-01", "2026-01-01"),
    ("today", "today", "2026-01-10"),
    ("yesterday, any case", " Yesterday ", "2026-01-09"),
    ("seven days", "7d", "2026-01-03T03:00:00.000Z"),
    ("seven days in words", "7 days", "2026-01-03T03:00:00.000Z"),
    ("one hour in words", "1 hour", "2026-01-10T02:00:00.000Z"),
    ("24 hours", "24h", "2026-01-09T03:00:00.000Z"),
    ("90 minutes", "90m", "2026-01-10T01:30:00.000Z"),
    ("two weeks", "2w", "2025-12-27T03:00:00.000Z"),
    ("an RFC 3339 time", "2026-01-05T10:00:00Z", "2026-01-05T10:00:00.000Z"),
    ("with an offset", "2026-01-05T12:00:00+02:00", "2026-01-05T10:00:00.000Z"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SINCE], ids=[c[0] for c in SINCE])
def test_parse_since(text: str, expected: str) -> None:
    from datetime import datetime

    from node.cli.when import parse_since

    assert parse_since(text, datetime.fromisoformat(NOW)) == expected


@pytest.mark.parametrize(
    "text", ["last week", "7 fortnights", "-7d", "2026-13-01", "2026-01-05T10:00:00", ""]
)
def test_parse_since_refuses_with_the_formats(text: str) -> None:
    from datetime import datetime

    from keys.errors import InvalidInput
    from node.cli.when import parse_since

    with pytest.raises(InvalidInput, match="7d") as info:
        parse_since(text, datetime.fromisoformat(NOW))
    assert info.value.fault == "input"
