"""The node's SQLite schema (SQLAlchemy Core tables).

Times are RFC 3339 UTC strings with milliseconds (``keys.encoding.format_time``), which sort
as text. ``access_log`` is append-only: triggers refuse any UPDATE or DELETE.

The values that recur (times, message ids, digests, parties, row numbers) have one column
builder each below; unlike a bare ``Column``, those are NOT NULL unless ``nullable=True``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
metadata = MetaData()


def _serial() -> Column[int]:
    """The table's own row number (``id``), given by SQLite."""
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _time(name: str, *, nullable: bool = False) -> Column[str]:
    """A time: RFC 3339 UTC with milliseconds, which sorts as text."""
    return Column(name, String(32), nullable=nullable)


def _msg_id(name: str = "msg_id", *, nullable: bool = False, **kw: Any) -> Column[str]:
    """A message id (32 hexadecimal digits)."""
    return Column(name, String(32), nullable=nullable, **kw)


def _sha256(name: str, *, nullable: bool = False, **kw: Any) -> Column[str]:
    """A SHA-256 digest in hexadecimal."""
    return Column(name, String(64), nullable=nullable, **kw)


def _party(name: str, *, nullable: bool = False, **kw: Any) -> Column[str]:
    """A party identifier (``FR``, ``US-DOJ``)."""
    return Column(name, String(16), nullable=nullable, **kw)


# One row per message, sent ("out") or received ("in").
# out states: queued -> accepted, or failed (refused by the relay for good).
# in states: new -> acknowledged -> responded.
messages = Table(
    "messages",
    metadata,
    _msg_id(primary_key=True),
    Column("direction", String(3), nullable=False),
    _party("counterpart"),
    Column("kind", String(48), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("conversation_id", String(32), nullable=False),
    _msg_id("in_reply_to", nullable=True),
    _time("created_at"),
    _time("expires_at"),
    Column("reference", String(200)),
    Column("envelope", LargeBinary, nullable=False),
    _sha256("envelope_sha256"),
    Column("message", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _time("next_attempt_at", nullable=True),
    Column("last_error", String(200)),
    _time("stored_at"),
    _time("acknowledged_at", nullable=True),
    _time("alerted_at", nullable=True),
    _time("ack_warned_at", nullable=True),
)
Index("ix_messages_dir_state", messages.c.direction, messages.c.state)
Index("ix_messages_conversation", messages.c.conversation_id)
Index("ix_messages_reply", messages.c.in_reply_to)

# The sender's inner signature over each message's bytes (``messages.message``), for
# evidence with content (docs/protocol.md section 16.3). Messages stored before it was
# kept have no row here.
message_signatures = Table(
    "message_signatures",
    metadata,
    _msg_id(primary_key=True),
    Column("signature", LargeBinary, nullable=False),
)

# Receipts: received about our own messages (origin "relay" or "peer", verified before
# storing) and issued by us about received ones (origin "self", posted to the relay).
receipts = Table(
    "receipts",
    metadata,
    _serial(),
    _sha256("sha256", unique=True),
    _msg_id(),
    Column("type", String(16), nullable=False),
    _party("issuer"),
    _time("issued_at"),
    Column("reason", String(64)),
    _sha256("envelope_sha256"),
    Column("wire", LargeBinary, nullable=False),
    Column("origin", String(8), nullable=False),
    Column("posted", Boolean, nullable=False, default=True),
    Column("attempts", Integer, nullable=False, default=0),
    _time("next_attempt_at", nullable=True),
    _time("stored_at"),
)
Index("ix_receipts_msg", receipts.c.msg_id)
Index("ix_receipts_pending", receipts.c.posted)

# Envelopes that arrived but could not be opened (REJECTED was sent for them).
rejections = Table(
    "rejections",
    metadata,
    _serial(),
    _sha256("envelope_sha256", unique=True),
    _msg_id(nullable=True),
    _party("sender", nullable=True),
    Column("reason", String(64), nullable=False),
    Column("sent_reason", String(64)),
    _time("received_at"),
)

# Public keys pinned on first sight, and every change seen since.
peers = Table(
    "peers",
    metadata,
    _party("party", primary_key=True),
    Column("signing_key", String(64), nullable=False),
    Column("signing_key_id", String(64), nullable=False),
    Column("bundle", LargeBinary, nullable=False),
    _time("first_seen"),
    _time("updated_at"),
)
peer_changes = Table(
    "peer_changes",
    metadata,
    _serial(),
    _party("party"),
    _time("at"),
    Column("old_key_ids", String(400), nullable=False),
    Column("new_key_ids", String(400), nullable=False),
    Column("accepted", Boolean, nullable=False),
)

# The signed directory (node/trust/directory.py): the secretariat's root keys pinned by
# 'node init --root' (one row), and every directory version this node accepted, as
# accepted (the newest is in force; the chain lets 'node directory verify' replay them
# from the pinned root, across root rotations).
directory_root = Table(
    "directory_root",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    _time("pinned_at"),
)
directory_versions = Table(
    "directory_versions",
    metadata,
    Column("version", Integer, primary_key=True),
    _sha256("payload_sha256"),
    _time("expires"),
    Column("file", LargeBinary, nullable=False),
    _time("accepted_at"),
)

# Protocol Art. 14(8): who displayed, exported, answered or forwarded what. Append-only.
access_log = Table(
    "access_log",
    metadata,
    _serial(),
    _time("at"),
    Column("os_user", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    _msg_id(),
    Column("detail", String(200)),
)
Index("ix_access_msg", access_log.c.msg_id)

# Officers of the web console (node/console): Argon2id hashes (PyNaCl pwhash), never passwords.
officers = Table(
    "officers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    _time("created_at"),
    Column("disabled", Integer, nullable=False, default=0),
)

# Warnings already raised (so a periodic check raises each once).
notices = Table(
    "notices",
    metadata,
    Column("key", String(200), primary_key=True),
    _time("at"),
)

# The relay's audit log as this node checked it (node/audit/auditor.py). Signed checkpoints the
# node verified (the newest, by size then time, is the trusted one); inclusion proofs of
# receipts, each against one of those checkpoints; alarms (fork, rollback, a receipt not
# in the log ...), each raised once (``key``), with what proves it (``evidence``, JSON).
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    _serial(),
    Column("tree_size", Integer, nullable=False),
    Column("root_hash", String(64), nullable=False),
    _time("signed_at"),
    Column("note", LargeBinary, nullable=False),
    _time("seen_at"),
)
Index("ix_audit_checkpoints_size", audit_checkpoints.c.tree_size)
audit_proofs = Table(
    "audit_proofs",
    metadata,
    _sha256("receipt_sha256", primary_key=True),
    _msg_id(),
    Column("receipt_type", String(16), nullable=False),
    Column("leaf_index", Integer, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("checkpoint_id", Integer, nullable=False),
    _time("checked_at"),
)
Index("ix_audit_proofs_msg", audit_proofs.c.msg_id)
audit_alarms = Table(
    "audit_alarms",
    metadata,
    _serial(),
    Column("key", String(200), nullable=False, unique=True),
    _time("at"),
    Column("kind", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    _msg_id(nullable=True),
    _sha256("receipt_sha256", nullable=True),
    Column("detail", String(2000), nullable=False),
    Column("evidence", LargeBinary),
)
Index("ix_audit_alarms_msg", audit_alarms.c.msg_id)
Index("ix_audit_alarms_receipt", audit_alarms.c.receipt_sha256)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(400), nullable=False),
    UniqueConstraint("key"),
)

# Added to existing databases too (create_all makes indexes only with a new table).
# The console's board reads every message's metadata: this covering index lets SQLite read
# the index alone, never the envelopes and contents (node/storage/consolequeries). It is
# partial on a condition that holds for every row, so that only queries repeating that
# condition (the console's) can use it: the plans, and so the order of ties, of every
# other query stay as they were.
BOARD_INDEX_CONDITION = "stored_at IS NOT NULL"
LATER_INDEXES = (
    f"""CREATE INDEX IF NOT EXISTS ix_messages_board ON messages (direction, state,
    created_at, priority, msg_id, counterpart, kind, expires_at, reference, acknowledged_at,
    stored_at)
    WHERE {BOARD_INDEX_CONDITION}""",
)

APPEND_ONLY_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log
    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log
    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END""",
)
