"""What every ``node`` command shares: finding the data folder, opening the node, the
clock, the OS user for access records, and reading a form."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keys.errors import KeystoreError
from node import config as node_config
from node.config import NodeConfig
from node.forms import FormDefaults
from node.logs import configure_logging, get_logger
from node.runtime import LocalNode, Node, open_local, open_node, resolve_passphrase, unlock

ENV_DATA = "POCNET_NODE_DATA"


def now() -> datetime:
    return datetime.now(UTC)


def os_user() -> str:
    """The operating-system user, for access records."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data or os.environ.get(ENV_DATA) or ".")


def load_config(args: argparse.Namespace) -> NodeConfig:
    cfg = node_config.load(data_dir(args))
    # One-shot commands print their result on stdout; their log goes to stderr and, unless
    # debugging, holds only warnings (a key change, a retry) so the terminal stays readable.
    level = cfg.log.level if cfg.log.level in ("debug", "error") else "warning"
    configure_logging(level=level, fmt=cfg.log.format, stream=sys.stderr)
    return cfg


def form_defaults(cfg: NodeConfig) -> FormDefaults:
    return FormDefaults(language=cfg.language, authority=dict(cfg.authority))


@asynccontextmanager
async def local_node(args: argparse.Namespace) -> AsyncIterator[LocalNode]:
    """A node without private keys (for commands that read the store only)."""
    cfg = load_config(args)
    node = await open_local(cfg, get_logger(party=cfg.party))
    try:
        yield node
    finally:
        await node.close()


@asynccontextmanager
async def full_node(args: argparse.Namespace, **kw: Any) -> AsyncIterator[Node]:
    """A node with its keystore unlocked and a transport to the relay."""
    cfg = load_config(args)
    if not cfg.keystore_path.is_file():
        raise KeystoreError(
            f"no keystore at {cfg.keystore_path}: check keystore.path in node.toml (or "
            "restore the keys from your backup)",
            code="keystore_missing",
        )
    secret = resolve_passphrase(cfg, passphrase_file=getattr(args, "passphrase_file", None))
    node = await open_node(cfg, unlock(cfg, secret), log=get_logger(party=cfg.party), **kw)
    try:
        yield node
    finally:
        await node.close()


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
