"""The layering rules of DESIGN.md section 2, enforced by walking every import (AST).

- ``keys`` is the pure core: it imports none of the I/O stack and neither ``relay`` nor
  ``node``;
- ``relay`` and ``node`` never import each other.

Imports inside functions and ``if TYPE_CHECKING:`` blocks count as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "keys": (*IO_STACK, "relay", "node"),
    "relay": ("node",),
    "node": ("relay",),
}


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


def violations(package: str, root: Path = ROOT) -> list[str]:
    """``file:line imports name`` for each forbidden import in ``package``."""
    banned = FORBIDDEN[package]
    out = []
    for path in sorted((root / package).rglob("*.py")):
        module = module_name(path, root)
        source = path.read_text(encoding="utf-8")
        for line, name in imported_modules(source, module, path.name == "__init__.py"):
            top = name.split(".")[0]
            if top in banned and not name.startswith(f"{package}."):
                out.append(f"{path.relative_to(root)}:{line} imports {name}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package: str) -> None:
    if not (ROOT / package).is_dir():
        pytest.skip(f"{package}/ does not exist yet")
    assert violations(package) == []


def test_the_packages_exist_and_are_scanned() -> None:
    files = list((ROOT / "keys").rglob("*.py"))
    assert len(files) >= 10
    assert any(p.name == "envelope.py" for p in files)


# --- the checker itself can fail --------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "source", "bad"),
    [
        ("keys", "import asyncio\n", True),
        ("keys", "import aiohttp.web\n", True),
        ("keys", "from sqlalchemy.ext.asyncio import AsyncSession\n", True),
        ("keys", "def f():\n    import structlog\n", True),
        ("keys", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import relay\n", True),
        ("keys", "from prometheus_client import Counter\n", True),
        ("keys", "from ... import node\n", True),
        ("keys", "import alembic, hashlib\n", True),
        ("relay", "from node.forms import x\n", True),
        ("node", "import relay.service\n", True),
        ("keys", "import hashlib\nfrom keys.encoding import canonical\n", False),
        ("keys", "from . import encoding\nfrom .errors import Rejected\n", False),
        ("keys", "from .. import node\n", False),  # keys.node: inside keys
        ("relay", "import aiohttp\nfrom keys.envelope import open_at\n", False),
        ("node", "import asyncio\nimport sqlalchemy\n", False),
        ("keys", "import asyncio_helpers_not_really\n", False),
    ],
)
def test_checker_on_synthetic_packages(
    tmp_path: Path, package: str, source: str, bad: bool
) -> None:
    pkg = tmp_path / package
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text(source)
    found = violations(package, tmp_path)
    assert bool(found) is bad, found
    if bad:
        assert found[0].startswith(f"{package}/sub/mod.py:")


def test_relative_imports_resolve_to_absolute_names() -> None:
    names = [n for _, n in imported_modules("from ..relay import app\n", "keys.sub.mod")]
    assert "relay" not in names
    assert "keys.relay" in names
    names = [n for _, n in imported_modules("from ... import node\n", "keys.sub.mod")]
    assert "node" in names
