"""The relay's tables (SQLAlchemy Core). Changes go through a migration in
``relay/storage/migrations/versions``; a test checks the migrations build exactly this.

Times are stored as integer microseconds since the Unix epoch (UTC) through
:class:`UtcMicros`, so SQLite and PostgreSQL compare and order them the same way.

- ``envelopes``: one row per accepted envelope; ``state`` is ``pending`` until the
  recipient confirms the download (``delivered``) or ``expires_at`` passes (``expired``):
  the values and transitions are :mod:`relay.storage.states`.
  ``overdue_at`` is the OVERDUE deadline, cleared once the notice is sent or the envelope
  leaves ``pending``. ``final_at`` is when it left ``pending``; ``envelope`` (the wire
  bytes) becomes NULL when the retention policy purges it.
- ``inbox``: what each party has still to download: envelopes addressed to it and receipts
  about the messages it sent; ``id`` orders it.
- ``receipts``: every receipt issued by the relay or stored from a node (the evidence).
- ``events``: the append-only audit trail of metadata; ``seq`` is the 0-based leaf index.
- ``directories``: every signed directory installed; the newest is in force.
- ``merkle_nodes``, ``checkpoints``: the audit log's Merkle tree and its signed checkpoints.
- ``attachment_chunks``: the encrypted chunks of sealed attachments as opaque blobs, with
  their SHA-256, uploaded by ``sender`` before the envelope; ``msg_id`` is set when an
  accepted envelope claims them. ``attachments``: one row per file of an accepted envelope
  (docs/adr/0017-attachment-chunks-in-the-database.md).
- ``nonces``: the nonces of state-changing requests until they leave the replay window
  (docs/adr/0007-replay-protection-across-restarts.md); ``ready_probe``: the row that
  ``/readyz`` writes to prove the store takes writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UtcMicros(TypeDecorator[datetime]):
    """An aware datetime stored as integer microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return to_micros(value)

    def process_result_value(self, value: int | None, dialect: Any) -> datetime | None:
        return None if value is None else from_micros(value)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The aware UTC datetime of a microsecond count."""
    return _EPOCH + timedelta(microseconds=value)


metadata = MetaData()

PARTY = 16
SHA = 64
ID = 32

envelopes = Table(
    "envelopes",
    metadata,
    Column("msg_id", String(ID), primary_key=True),
    Column("sender", String(PARTY), nullable=False),
    Column("recipient", String(PARTY), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcMicros(), nullable=False),
    Column("expires_at", UtcMicros(), nullable=False),
    Column("accepted_at", UtcMicros(), nullable=False),
    Column("overdue_at", UtcMicros(), nullable=True),
    Column("final_at", UtcMicros(), nullable=True),
    Column("envelope_sha256", String(SHA), nullable=False),
    Column("size", Integer, nullable=False),
    Column("header", LargeBinary, nullable=False),
    Column("envelope", LargeBinary, nullable=True),
    Column("accepted_receipt", LargeBinary, nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    Index("ix_envelopes_overdue", "overdue_at"),
    Index("ix_envelopes_state_expires", "state", "expires_at"),
    Index(
        "ix_envelopes_purgeable",
        "final_at",
        sqlite_where=text("envelope IS NOT NULL"),
        postgresql_where=text("envelope IS NOT NULL"),
    ),
)

inbox = Table(
    "inbox",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("party", String(PARTY), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("msg_id", String(ID), nullable=False),
    Column("receipt_sha256", String(SHA), nullable=True),
    Column("added_at", UtcMicros(), nullable=False),
    Index("ix_inbox_party_id", "party", "id"),
    Index("ix_inbox_msg", "msg_id"),
)

receipts = Table(
    "receipts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("msg_id", String(ID), nullable=False),
    Column("type", String(16), nullable=False),
    Column("issuer", String(PARTY), nullable=False),
    Column("issued_at", UtcMicros(), nullable=False),
    Column("receipt_sha256", String(SHA), nullable=False, unique=True),
    Column("receipt", LargeBinary, nullable=False),
    UniqueConstraint("msg_id", "type", "issuer", name="uq_receipts_msg_type_issuer"),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(32), nullable=False),
    Column("time", UtcMicros(), nullable=False),
    Column("msg_id", String(ID), nullable=True),
    Column("sender", String(PARTY), nullable=True),
    Column("recipient", String(PARTY), nullable=True),
    Column("envelope_sha256", String(SHA), nullable=True),
    Column("receipt_sha256", String(SHA), nullable=True),
    Column("directory_version", String(SHA), nullable=True),
    Index("ix_events_msg", "msg_id"),
)

# The audit log's stored complete-subtree hashes (RFC 9162, keys/auditlog/merkle.py): the hash of
# leaves [idx * 2**level, (idx + 1) * 2**level); written once, never changed.
merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("level", "idx", name="pk_merkle_nodes"),
)

# Every signed checkpoint (keys/auditlog/checkpoint.py): the signed note's bytes, and its size,
# root and time, so 'relay audit verify' can check them all against the tree.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tree_size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("signed_at", UtcMicros(), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Index("ix_checkpoints_size", "tree_size"),
)

# Every signed directory installed (relay/directory/installed.py), kept whole: the newest version is
# the one in force and the trust for the next. ``file`` is the signed file as accepted (what
# GET /v1/directory serves); ``leaf_index`` is its directory_installed audit event.
directories = Table(
    "directories",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("payload_sha256", String(SHA), nullable=False),
    Column("expires", UtcMicros(), nullable=False),
    Column("installed_at", UtcMicros(), nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    Column("file", LargeBinary, nullable=False),
)

# The nonce of every signed state-changing request (relay/storage/nonces.py) until ``expires_at``,
# when a request signed with it can no longer pass the time check; purged after that.
nonces = Table(
    "nonces",
    metadata,
    Column("party", String(PARTY), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("expires_at", UtcMicros(), nullable=False),
    PrimaryKeyConstraint("party", "nonce", name="pk_nonces"),
    Index("ix_nonces_expires", "expires_at"),
)

# One row, rewritten by GET /readyz (at most every few seconds) to prove writes succeed.
ready_probe = Table(
    "ready_probe",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("at", UtcMicros(), nullable=False),
)

# The encrypted chunks of sealed attachments (docs/protocol.md section 18), uploaded before
# their envelope; claimed (msg_id set) by the accepted envelope that lists them, deleted with
# its bytes by retention, or after attachment_pending_seconds if never claimed.
attachment_chunks = Table(
    "attachment_chunks",
    metadata,
    Column("att_id", String(ID), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("sender", String(PARTY), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", LargeBinary, nullable=False),
    Column("stored_at", UtcMicros(), nullable=False),
    Column("msg_id", String(ID), nullable=True),
    # Last: SQLite reads a row's columns in order, and a column after a 1 MiB blob would
    # walk the blob's overflow pages on every metadata query.
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("att_id", "idx", name="pk_attachment_chunks"),
    Index("ix_attachment_chunks_sender", "sender", "size"),  # covers the quota's sum
    Index("ix_attachment_chunks_msg", "msg_id"),
)

# One row per attachment of an accepted envelope: what its header listed.
attachments = Table(
    "attachments",
    metadata,
    Column("att_id", String(ID), primary_key=True),
    Column("msg_id", String(ID), nullable=False),
    Column("sender", String(PARTY), nullable=False),
    Column("recipient", String(PARTY), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("digest", String(SHA), nullable=False),
    Index("ix_attachments_msg", "msg_id"),
)

INBOX_KINDS = ("envelope", "receipt")
