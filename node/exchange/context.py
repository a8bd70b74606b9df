"""What the inbox and the outbox both work with: this node's keys, its store, the peers'
keys it trusts and the relay."""

from __future__ import annotations

from dataclasses import dataclass

from keys.keystore import Keystore
from node.logs import Logger
from node.relayapi.transport import RelayTransport
from node.storage.store import Store
from node.trust.peers import PeerKeys


@dataclass(kw_only=True, eq=False, repr=False)
class Exchange:
    """The parts of a node that seal, open, send and receive (no ``repr``: it holds keys).

    Attributes:
        store: the node's database.
        transport: the connection to the relay.
        peers: the other parties' keys this node trusts.
        keystore: this node's own keys.
        log: the structlog logger (mandatory; tests pass one too).
    """

    store: Store
    transport: RelayTransport
    peers: PeerKeys
    keystore: Keystore
    log: Logger

    @property
    def party(self) -> str:
        """This node's party identifier."""
        return self.keystore.party
