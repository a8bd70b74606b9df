"""The node's SQLite schema (SQLAlchemy Core tables).

Times are RFC 3339 UTC strings with milliseconds (``keys.encoding.format_time``), which sort
as text. ``access_log`` is append-only: triggers refuse any UPDATE or DELETE.
"""

from __future__ import annotations

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

# One row per message, sent ("out") or received ("in").
# out states: queued -> accepted, or failed (refused by the relay for good).
# in states: new -> acknowledged -> responded.
messages = Table(
    "messages",
    metadata,
    Column("msg_id", String(32), primary_key=True),
    Column("direction", String(3), nullable=False),
    Column("counterpart", String(16), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("conversation_id", String(32), nullable=False),
    Column("in_reply_to", String(32)),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("reference", String(200)),
    Column("envelope", LargeBinary, nullable=False),
    Column("envelope_sha256", String(64), nullable=False),
    Column("message", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(32)),
    Column("last_error", String(200)),
    Column("stored_at", String(32), nullable=False),
    Column("acknowledged_at", String(32)),
    Column("alerted_at", String(32)),
    Column("ack_warned_at", String(32)),
)
Index("ix_messages_dir_state", messages.c.direction, messages.c.state)
Index("ix_messages_conversation", messages.c.conversation_id)
Index("ix_messages_reply", messages.c.in_reply_to)

# Receipts: received about our own messages (origin "relay" or "peer", verified before
# storing) and issued by us about received ones (origin "self", posted to the relay).
receipts = Table(
    "receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("msg_id", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("issuer", String(16), nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("reason", String(64)),
    Column("envelope_sha256", String(64), nullable=False),
    Column("wire", LargeBinary, nullable=False),
    Column("origin", String(8), nullable=False),
    Column("posted", Boolean, nullable=False, default=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(32)),
    Column("stored_at", String(32), nullable=False),
)
Index("ix_receipts_msg", receipts.c.msg_id)
Index("ix_receipts_pending", receipts.c.posted)

# Envelopes that arrived but could not be opened (REJECTED was sent for them).
rejections = Table(
    "rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("envelope_sha256", String(64), nullable=False, unique=True),
    Column("msg_id", String(32)),
    Column("sender", String(16)),
    Column("reason", String(64), nullable=False),
    Column("sent_reason", String(64)),
    Column("received_at", String(32), nullable=False),
)

# Public keys pinned on first sight, and every change seen since.
peers = Table(
    "peers",
    metadata,
    Column("party", String(16), primary_key=True),
    Column("signing_key", String(64), nullable=False),
    Column("signing_key_id", String(64), nullable=False),
    Column("bundle", LargeBinary, nullable=False),
    Column("first_seen", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
peer_changes = Table(
    "peer_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("party", String(16), nullable=False),
    Column("at", String(32), nullable=False),
    Column("old_key_ids", String(400), nullable=False),
    Column("new_key_ids", String(400), nullable=False),
    Column("accepted", Boolean, nullable=False),
)

# The signed directory (node/directory.py): the secretariat's root keys pinned by
# 'node init --root' (one row), and every directory version this node accepted, as
# accepted (the newest is in force; the chain lets 'node directory verify' replay them
# from the pinned root, across root rotations).
directory_root = Table(
    "directory_root",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    Column("pinned_at", String(32), nullable=False),
)
directory_versions = Table(
    "directory_versions",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("expires", String(32), nullable=False),
    Column("file", LargeBinary, nullable=False),
    Column("accepted_at", String(32), nullable=False),
)

# Protocol Art. 14(8): who displayed, exported, answered or forwarded what. Append-only.
access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("os_user", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("msg_id", String(32), nullable=False),
    Column("detail", String(200)),
)
Index("ix_access_msg", access_log.c.msg_id)

# Warnings already raised (so a periodic check raises each once).
notices = Table(
    "notices",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("at", String(32), nullable=False),
)

# The relay's audit log as this node checked it (node/audit.py). Signed checkpoints the
# node verified (the newest, by size then time, is the trusted one); inclusion proofs of
# receipts, each against one of those checkpoints; alarms (fork, rollback, a receipt not
# in the log ...), each raised once (``key``), with what proves it (``evidence``, JSON).
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", Integer, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("signed_at", String(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("seen_at", String(32), nullable=False),
)
Index("ix_audit_checkpoints_size", audit_checkpoints.c.tree_size)
audit_proofs = Table(
    "audit_proofs",
    metadata,
    Column("receipt_sha256", String(64), primary_key=True),
    Column("msg_id", String(32), nullable=False),
    Column("receipt_type", String(16), nullable=False),
    Column("leaf_index", Integer, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("checkpoint_id", Integer, nullable=False),
    Column("checked_at", String(32), nullable=False),
)
Index("ix_audit_proofs_msg", audit_proofs.c.msg_id)
audit_alarms = Table(
    "audit_alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("at", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("msg_id", String(32)),
    Column("receipt_sha256", String(64)),
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

APPEND_ONLY_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log
    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log
    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END""",
)
