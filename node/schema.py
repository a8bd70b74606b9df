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
