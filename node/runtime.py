"""Composition root: builds a node's parts from its configuration, once, at the entry point.

:class:`LocalNode` is what commands that never talk to the relay need (store, pinned keys);
:class:`Node` adds the keystore, the transport, the outbox and the inbox. Every part gets
its dependencies passed in; nothing reaches into this object from below.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keys.errors import KeystoreError
from keys.host import passphrase as passphrase_sources
from keys.host.files import keystore_is_encrypted, read_keystore
from keys.keystore import Keystore
from keys.limits import ProtocolLimits
from node.config import NodeConfig
from node.exchange.alerts import Alerter
from node.exchange.attachments import uploader_for
from node.exchange.inbox import Inbox
from node.exchange.outbox import Backoff, Outbox
from node.exchange.retry import RetryPolicy
from node.logs import Logger
from node.relayapi.failover import FailoverTransport
from node.relayapi.transport import HttpRelayTransport, RelayTransport
from node.storage.store import Store
from node.trust.changes import OwnKeys
from node.trust.directory import DirectoryPeers, read_root
from node.trust.peers import PeerKeys, PinnedPeers

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def resolve_passphrase(
    config: NodeConfig,
    *,
    passphrase_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> bytes | None:
    """The keystore passphrase, or None for an unencrypted keystore.

    Sources in order: ``--passphrase-file``, ``$POCNET_PASSPHRASE``, the file named by
    ``keystore.passphrase_file``, the variable named by ``keystore.passphrase_env``, then a
    terminal prompt.

    Raises:
        KeystoreError: no source gives one (code ``passphrase_missing``).
    """
    env = os.environ if env is None else env
    if not keystore_is_encrypted(config.keystore_path):
        return None
    if passphrase_file is None and not env.get(passphrase_sources.ENV_VAR):
        if config.keystore.passphrase_file:
            passphrase_file = config.data_dir / config.keystore.passphrase_file
        elif config.keystore.passphrase_env and env.get(config.keystore.passphrase_env):
            value = env[config.keystore.passphrase_env]
            return value.encode("utf-8")
    return passphrase_sources.resolve(passphrase_file, env=env, interactive=interactive)


def unlock(config: NodeConfig, secret: bytes | None) -> Keystore:
    """Open the node's keystore and check it belongs to the configured party.

    Raises:
        KeystoreError: missing, locked, wrong passphrase, or another party's keys.
    """
    keystore = read_keystore(config.keystore_path, secret)
    if keystore.party != config.party:
        raise KeystoreError(
            f"the keystore holds keys of {keystore.party}, but node.toml says {config.party}",
            code="keystore_mismatch",
        )
    return keystore


@dataclass
class LocalNode:
    """The parts that work without the relay or the private keys."""

    config: NodeConfig
    store: Store
    peers: PeerKeys
    log: Logger

    async def close(self) -> None:
        await self.store.close()


@dataclass
class Node(LocalNode):
    """A node that can send and receive."""

    keystore: Keystore
    transport: RelayTransport
    outbox: Outbox
    inbox: Inbox
    alerter: Alerter
    clock: Clock

    async def close(self) -> None:
        await self.transport.close()
        await self.store.close()


async def open_peers(
    config: NodeConfig, store: Store, log: Logger, own: OwnKeys | None = None
) -> PeerKeys:
    """The signed directory from the pinned root (:class:`DirectoryPeers`); without a
    pinned root, the development fallback (:class:`PinnedPeers`, trust on first use)."""
    root = await store.pinned_root()
    if root is not None:
        return await DirectoryPeers(
            store, root=read_root(root), me=config.party, contacts=config.contacts, own=own, log=log
        ).load()
    return await PinnedPeers(
        store,
        me=config.party,
        on_key_change=config.peers.on_key_change,
        contacts=config.contacts,
        log=log,
    ).load()


async def open_local(config: NodeConfig, log: Logger, own: OwnKeys | None = None) -> LocalNode:
    """Open the store and the trusted keys."""
    store = await Store.open(config.database_path)
    try:
        peers = await open_peers(config, store, log, own)
    except BaseException:
        await store.close()
        raise
    return LocalNode(config, store, peers, log)


def retry_policy(config: NodeConfig) -> RetryPolicy:
    """The outbox's retry delays per priority, from ``[outbox]`` (``retry_max`` caps all)."""
    o = config.outbox
    caps = {
        "emergency": min(o.retry_max_emergency, o.retry_max),
        "urgent": min(o.retry_max_urgent, o.retry_max),
        "routine": o.retry_max,
    }
    return RetryPolicy(o.retry_base, caps)


def relay_transport(
    config: NodeConfig, keystore: Keystore, *, clock: Clock, log: Logger
) -> RelayTransport:
    """HTTP to the relay of ``relay.url``, or with several ``relay.urls`` a transport that
    fails over between them (:mod:`node.relayapi.failover`)."""
    relays = [
        (
            url,
            HttpRelayTransport(
                url,
                party=config.party,
                signing_key=keystore.signing_key,
                clock=clock,
                timeout=config.relay.request_timeout,
                ca_file=config.relay.ca_file or None,
            ),
        )
        for url in config.relay.endpoints
    ]
    if len(relays) == 1:
        return relays[0][1]
    return FailoverTransport(
        relays, log=log, base=config.relay.reconnect_base, cap=config.relay.reconnect_max
    )


async def open_node(
    config: NodeConfig,
    keystore: Keystore,
    *,
    log: Logger,
    transport: RelayTransport | None = None,
    clock: Clock = system_clock,
) -> Node:
    """Build a complete node (the transport defaults to HTTP to ``relay.url``, or to each
    of ``relay.urls`` in turn)."""
    own = OwnKeys(keystore.signing_key.public.key_id, frozenset(keystore.decryption_keys()))
    local = await open_local(config, log, own)
    try:
        return _assemble(local, keystore, log=log, transport=transport, clock=clock)
    except BaseException:
        await local.close()  # no aiosqlite thread outlives a failed start
        raise


def _assemble(
    local: LocalNode,
    keystore: Keystore,
    *,
    log: Logger,
    transport: RelayTransport | None,
    clock: Clock,
) -> Node:
    """The node's parts around its open store (the transport defaults to HTTP)."""
    config = local.config
    transport = transport or relay_transport(config, keystore, clock=clock, log=log)
    outbox = Outbox(
        store=local.store,
        transport=transport,
        peers=local.peers,
        keystore=keystore,
        backoff=Backoff(config.outbox.retry_base, config.outbox.retry_max),
        retry=retry_policy(config),
        ttl=timedelta(days=config.outbox.ttl_days),
        send_grace=timedelta(seconds=config.outbox.send_grace_seconds),
        uploader=uploader_for(transport, local.store, config.data_dir, log),
        log=log,
    )
    alerter = Alerter(config.alerts, log)
    inbox = Inbox(
        store=local.store,
        transport=transport,
        peers=local.peers,
        keystore=keystore,
        outbox=outbox,
        alerter=alerter,
        limits=ProtocolLimits(clock_skew=timedelta(seconds=config.limits.clock_skew)),
        log=log,
    )
    return Node(
        config=config,
        store=local.store,
        peers=local.peers,
        log=log,
        keystore=keystore,
        transport=transport,
        outbox=outbox,
        inbox=inbox,
        alerter=alerter,
        clock=clock,
    )
