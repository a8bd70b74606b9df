"""Every command of ``keys``, ``relay`` and ``node`` explains itself.

Walks each parser tree: every argument (positional or option) has a help string, and every
parser's ``--help`` (top level, each subcommand, each action) lists the exit codes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import pytest

from keys.cli import main as keys_cli
from node.cli import main as node_cli
from relay.cli import main as relay_cli

BUILDERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "keys": keys_cli.build_parser,
    "relay": relay_cli.build_parser,
    "node": node_cli.build_parser,
}


def walk(
    name: str, parser: argparse.ArgumentParser
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``(command path, parser)`` for the parser and every subparser below it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from walk(f"{name} {sub_name}", sub)


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    return [pair for prog, build in BUILDERS.items() for pair in walk(prog, build())]


def _ids(pairs: list[tuple[str, argparse.ArgumentParser]]) -> list[str]:
    return [path for path, _ in pairs]


PARSERS = all_parsers()


def test_the_walk_reaches_the_subcommands() -> None:
    paths = set(_ids(PARSERS))
    for expected in (
        "keys verify-bundle",
        "keys directory",
        "relay members resume",
        "relay logs",
        "node inbox",
        "node respond",
    ):
        assert expected in paths
    assert len(paths) > 40


@pytest.mark.parametrize(("path", "parser"), PARSERS, ids=_ids(PARSERS))
def test_every_argument_has_help(path: str, parser: argparse.ArgumentParser) -> None:
    missing = [
        action.dest if not action.option_strings else "/".join(action.option_strings)
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and action.help != argparse.SUPPRESS
        and not (action.help or "").strip()
    ]
    assert missing == [], f"{path}: arguments without help: {missing}"


@pytest.mark.parametrize(("path", "parser"), PARSERS, ids=_ids(PARSERS))
def test_every_help_lists_exit_codes(path: str, parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert "exit codes:" in text, f"{path} --help does not list the exit codes"


def test_suspend_and_resume_say_what_they_do() -> None:
    members = dict(PARSERS)["relay members"]
    (actions,) = [a for a in members._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {a.dest: a.help or "" for a in actions._choices_actions}
    assert "403" in helps["suspend"]
    assert "403" not in helps["resume"] and helps["resume"].startswith("resume")
