"""The layering rules of DESIGN.md sections 2 and 13, enforced by walking every import (AST).

Each package's ``__init__.py`` says in a paragraph what it owns and what it may import;
:data:`RULES` is the same sentences as data, one :class:`Rule` per scope. A module is held
to every rule whose scope contains it (``relay.core.service`` to the rules of ``relay`` and of
``relay.core``). Imports inside functions and ``if TYPE_CHECKING:`` blocks count as well.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("keys", "relay", "node", "pocnet")
IO_STACK = (
    "aiohttp",
    "sqlalchemy",
    "asyncio",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "structlog",
    "prometheus_client",
)
DRIVERS = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite")
HOST = ("os", "sys", "getpass", "pathlib", "subprocess", "socket", "shutil", "tempfile", "io")


@dataclass(frozen=True)
class Rule:
    """Modules in ``scope`` (minus ``exempt``) import nothing under ``banned``, except
    what is under ``allowed`` or inside their own scope."""

    scope: str
    banned: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()

    def covers(self, module: str) -> bool:
        return under(module, self.scope) and not any(under(module, e) for e in self.exempt)

    def forbids(self, name: str) -> bool:
        if any(under(name, a) for a in self.allowed):
            return False
        hits = [b for b in self.banned if under(name, b)]
        # inside its own scope a module is free, unless a ban names a part of that scope
        inner = [b for b in hits if b != self.scope and under(b, self.scope)]
        return bool(hits) and (not under(name, self.scope) or bool(inner))


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


NODE_SUBPACKAGES = (
    "node.exchange",
    "node.relayapi",
    "node.trust",
    "node.audit",
    "node.evidence",
    "node.reports",
    "node.storage",
    "node.forms",
    "node.daemon",
    "node.cli",
    "node.console",
)
RELAY_TOP = ("relay.app", "relay.cli")
PURE_DECISIONS = (
    "keys.states",
    "relay.storage.states",
    "relay.core.node_receipts",
    "relay.core.longpoll",
    "node.storage.states",
    "node.exchange.triage",
)

RULES: tuple[Rule, ...] = (
    # keys: the pure core, shared by both sides
    Rule("keys", (*IO_STACK, "relay", "node"), "the core does no network or database I/O"),
    Rule(
        "keys",
        (*HOST, "keys.host", "keys.cli"),
        "pure modules touch no file, terminal or environment",
        exempt=("keys.host", "keys.cli", "keys.__main__"),
    ),
    Rule("keys.host", ("keys.cli",), "host helpers serve the commands, not the reverse"),
    # relay
    Rule("relay", ("node",), "relay and node never import each other"),
    Rule(
        "relay.core",
        (
            *("aiohttp", *DRIVERS, "prometheus_client", "os", "pathlib", "keys.host"),
            *(*RELAY_TOP, "relay.http", "relay.tasks", "relay.directory"),
        ),
        "the logic knows no transport, no SQL and no files",
    ),
    Rule(
        "relay.storage",
        ("aiohttp", *RELAY_TOP, "relay.core", "relay.http", "relay.tasks", "relay.directory"),
        "storage serves the logic; it does not call it",
    ),
    Rule(
        "relay.audit",
        ("aiohttp", *RELAY_TOP, "relay.core", "relay.http", "relay.tasks", "relay.directory"),
        "the audit log is written inside storage transactions and read by the transport",
    ),
    Rule(
        "relay.directory",
        ("aiohttp", *RELAY_TOP, "relay.http", "relay.tasks"),
        "the installed directory is below the transport and the tasks",
    ),
    Rule(
        "relay.tasks",
        ("aiohttp", *RELAY_TOP, "relay.http"),
        "background duties run beside the transport, not through it",
    ),
    Rule(
        "relay.tasks",
        DRIVERS,
        "a duty decides when; its SQL stays in relay.storage and relay.audit",
    ),
    Rule("relay.http", (*RELAY_TOP, "relay.tasks", *DRIVERS), "handlers parse, call and map"),
    Rule(
        "relay.monitoring",
        ("relay", "aiohttp", *DRIVERS),
        "logs and metrics depend on nothing else of the relay",
    ),
    # node
    Rule("node", ("relay",), "relay and node never import each other"),
    Rule(
        "node",
        ("aiohttp",),
        "only the relay API client speaks HTTP (and the console serves its pages: "
        "node.console is the officers' web interface, aiohttp.web on loopback by default)",
        exempt=("node.relayapi", "node.console"),
    ),
    Rule(
        "node",
        ("node.cli",),
        "nothing depends on the command line",
        exempt=("node.cli", "node.__main__"),
    ),
    Rule(
        "node",
        ("node.daemon",),
        "the daemon is a composition, not a dependency",
        exempt=("node.daemon", "node.cli", "node.__main__"),
    ),
    Rule(
        "node.relayapi",
        ("node",),
        "the relay client knows nothing of the node but its errors",
    ),
    Rule(
        "node.storage",
        ("node",),
        "storage serves every part and depends on none",
    ),
    Rule(
        "node.forms",
        ("node", "asyncio", *DRIVERS),
        "forms are the domain: fields and their checks only",
    ),
    Rule(
        "node.reports",
        ("asyncio", *DRIVERS, "node.exchange", "node.relayapi", "node.trust", "node.audit"),
        "reports are pure computations over stored records",
    ),
    Rule(
        "node.trust",
        ("node.exchange", "node.audit", "node.evidence", "node.runtime"),
        "trust decisions depend on stored keys and the directory only",
    ),
    Rule(
        "node.audit",
        ("node.evidence", "node.trust.directory"),
        "the auditor checks the relay's log, it does not build bundles",
    ),
    Rule(
        "node.evidence",
        ("node.exchange", "node.runtime"),
        "evidence is built from stored records, proofs and keys",
    ),
    Rule("node.exchange", ("node.audit", "node.evidence"), "sending and receiving come first"),
    # the umbrella command
    Rule(
        "pocnet",
        ("keys", "relay", "node", *IO_STACK),
        "the umbrella dispatches to each tool's entry point by name, importing none of them",
    ),
    Rule(
        "node.console",
        ("node.relayapi", "node.audit", "node.runtime", "node.config", "aiohttp.client"),
        "the console calls the same store and exchange functions as the CLI; the command "
        "line builds it, and it speaks HTTP only as a server",
    ),
    # state tables and decisions (STYLE.md rules 14 and 15): values in, values out
    *(
        Rule(scope, (*IO_STACK, *HOST), "states and decisions are pure functions of values")
        for scope in PURE_DECISIONS
    ),
)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module ``source`` imports, as (line, absolute dotted name)."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".") if node.level else []
            if node.level > 1:
                base = base[: max(len(base) - (node.level - 1), 0)]
            name = _join(*base, node.module or "")
            if name:
                found.append((node.lineno, name))
            # "from x import y" may import the submodule x.y
            found.extend((node.lineno, _join(name, alias.name)) for alias in node.names)
    return found


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def violations(package: str, root: Path = ROOT, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """``file:line imports name (why)`` for each forbidden import in ``package``."""
    out = []
    for path in sorted((root / package).rglob("*.py")):
        module = module_name(path, root)
        mine = [r for r in rules if r.covers(module)]
        source = path.read_text(encoding="utf-8")
        for line, name in imported_modules(source, module, path.name == "__init__.py"):
            for rule in mine:
                if rule.forbids(name):
                    out.append(f"{path.relative_to(root)}:{line} imports {name} ({rule.why})")
                    break
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_layering(package: str) -> None:
    assert violations(package) == []


def test_the_packages_exist_and_are_scanned() -> None:
    files = list((ROOT / "keys").rglob("*.py"))
    assert len(files) >= 10
    assert (ROOT / "keys" / "envelope" / "open.py") in files


def subpackages() -> list[Path]:
    return sorted(
        p.parent
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("__init__.py")
        if "migrations" not in p.parts
    )


@pytest.mark.parametrize("folder", subpackages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_package_says_what_it_owns_and_may_import(folder: Path) -> None:
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"{folder.relative_to(ROOT)}/__init__.py has no docstring"
    if folder.parent != ROOT and folder.name not in ("directory", "envelope", "forms"):
        assert "import" in doc, f"{folder.relative_to(ROOT)}: say what it may import"


def test_the_top_of_each_package_holds_composition_roots_only() -> None:
    top = sorted(str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py"))
    assert top == [
        "keys/__init__.py",
        "keys/__main__.py",
        "keys/encoding.py",
        "keys/errors.py",
        "keys/httpsig.py",
        "keys/httpsig_fast.py",
        "keys/identities.py",
        "keys/keystore.py",
        "keys/limits.py",
        "keys/receipts.py",
        "keys/redaction.py",
        "keys/states.py",
        "keys/suites.py",
        "node/__init__.py",
        "node/__main__.py",
        "node/config.py",
        "node/logs.py",
        "node/runtime.py",
        "pocnet/__init__.py",
        "pocnet/__main__.py",
        "pocnet/cli.py",
        "relay/__init__.py",
        "relay/__main__.py",
        "relay/app.py",
        "relay/config.py",
    ]


def test_every_rule_scope_exists() -> None:
    for rule in RULES:
        path = ROOT / rule.scope.replace(".", "/")
        assert path.is_dir() or path.with_suffix(".py").is_file(), rule.scope


# --- the checker itself can fail --------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "source", "bad"),
    [
        ("keys/sub/mod.py", "import asyncio\n", True),
        ("keys/sub/mod.py", "import aiohttp.web\n", True),
        ("keys/sub/mod.py", "from sqlalchemy.ext.asyncio import AsyncSession\n", True),
        ("keys/sub/mod.py", "def f():\n    import structlog\n", True),
        (
            "keys/sub/mod.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import relay\n",
            True,
        ),
        ("keys/sub/mod.py", "from prometheus_client import Counter\n", True),
        ("keys/sub/mod.py", "from ... import node\n", True),
        ("keys/sub/mod.py", "import alembic, hashlib\n", True),
        ("keys/sub/mod.py", "import os\n", True),
        ("keys/sub/mod.py", "from pathlib import Path\n", True),
        ("keys/sub/mod.py", "from keys.host.files import write_private\n", True),
        ("keys/host/mod.py", "import os\nfrom keys.encoding import canonical\n", False),
        ("keys/host/mod.py", "from keys.cli import main\n", True),
        ("keys/cli/mod.py", "import sys\nfrom keys.host import passphrase\n", False),
        ("relay/sub/mod.py", "from node.forms import x\n", True),
        ("node/sub/mod.py", "import relay.core.service\n", True),
        ("keys/sub/mod.py", "import hashlib\nfrom keys.encoding import canonical\n", False),
        ("keys/sub/mod.py", "from . import encoding\nfrom .errors import Rejected\n", False),
        ("keys/sub/mod.py", "from .. import node\n", False),  # keys.node: inside keys
        ("relay/sub/mod.py", "import aiohttp\nfrom keys.envelope import open_at\n", False),
        ("node/sub/mod.py", "import asyncio\nimport sqlalchemy\n", False),
        ("keys/sub/mod.py", "import asyncio_helpers_not_really\n", False),
        ("relay/core/mod.py", "from relay.http.routes import build\n", True),
        ("relay/core/mod.py", "import sqlalchemy\n", True),
        ("relay/core/mod.py", "from aiohttp import web\n", True),
        ("relay/core/mod.py", "from relay.storage.store import Store\n", False),
        ("relay/storage/mod.py", "from relay.core.service import RelayService\n", True),
        ("relay/monitoring/mod.py", "from relay.storage import store\n", True),
        ("relay/monitoring/mod.py", "from relay.monitoring.metrics import X\n", False),
        ("node/exchange/mod.py", "import aiohttp\n", True),
        ("node/relayapi/mod.py", "import aiohttp\nfrom keys.errors import X\n", False),
        ("node/relayapi/mod.py", "from node.storage.store import Store\n", True),
        ("node/storage/mod.py", "from node.trust.peers import PeerKeys\n", True),
        ("node/forms/mod.py", "from node.storage.store import Store\n", True),
        ("node/reports/mod.py", "import sqlalchemy\n", True),
        ("node/exchange/mod.py", "from node.cli.main import main\n", True),
        ("node/cli/mod.py", "from node.daemon.loop import run\n", False),
    ],
)
def test_checker_on_synthetic_packages(tmp_path: Path, module: str, source: str, bad: bool) -> None:
    path = tmp_path / module
    package = module.split("/")[0]
    for parent in [path.parent, *path.parent.parents]:
        if parent == tmp_path:
            break
        parent.mkdir(parents=True, exist_ok=True)
        (parent / "__init__.py").write_text("")
    path.write_text(source)
    found = violations(package, tmp_path)
    assert bool(found) is bad, found
    if bad:
        assert found[0].startswith(f"{module}:")


def test_relative_imports_resolve_to_absolute_names() -> None:
    names = [n for _, n in imported_modules("from ..relay import app\n", "keys.sub.mod")]
    assert "relay" not in names
    assert "keys.relay" in names
    names = [n for _, n in imported_modules("from ... import node\n", "keys.sub.mod")]
    assert "node" in names


def test_the_pure_decision_modules_exist() -> None:
    for module in PURE_DECISIONS:
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
