"""The umbrella command ``pocnet`` and ``--version`` on every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from keys.cli.main import build_parser as keys_parser
from keys.host.command import version
from node.cli.main import build_parser as node_parser
from pocnet.cli import main
from relay.cli.main import build_parser as relay_parser
from tests.support.processes import ROOT


def test_pocnet_dispatches_to_the_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "forms"]) == 0
    assert "preservation_request" in capsys.readouterr().out


def test_pocnet_passes_the_tools_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["keys", "no-such-command"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("argv", "code", "stream", "text"),
    [
        ([], 2, "out", "usage: pocnet"),
        (["--help"], 0, "out", "pocnet TOOL --help"),
        (["--version"], 0, "out", "pocnet "),
        (["npm"], 2, "err", "unknown tool 'npm'"),
    ],
)
def test_pocnet_itself(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, stream: str, text: str
) -> None:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert text in (captured.out if stream == "out" else captured.err)


@pytest.mark.parametrize(
    ("parser", "argv"),
    [
        (node_parser, ["--version"]),
        (node_parser, ["send", "--version"]),
        (node_parser, ["run", "--version"]),
        (relay_parser, ["--version"]),
        (relay_parser, ["serve", "--version"]),
        (keys_parser, ["--version"]),
        (keys_parser, ["directory", "--version"]),
    ],
)
def test_every_command_has_version(
    capsys: pytest.CaptureFixture[str], parser: object, argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(argv)  # type: ignore[operator]
    assert info.value.code == 0
    assert f"(PoCNet) {version()}" in capsys.readouterr().out


def test_python_m_pocnet_runs_a_tool() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pocnet", "node", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0 and result.stdout.startswith("node (PoCNet)")


def test_shell_completion_with_argcomplete(tmp_path: object) -> None:
    pytest.importorskip("argcomplete")
    import os

    read, write = os.pipe()
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": "node se",
        "COMP_POINT": "7",
    }
    script = "import os; os.dup2(int(os.environ['OUT']), 8); from node.cli.main import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "OUT": str(write)},
        pass_fds=(write,),
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )
    os.close(write)
    with os.fdopen(read) as fh:
        offered = fh.read().split()
    assert result.returncode == 0 and offered == ["send"], (offered, result.stderr)
