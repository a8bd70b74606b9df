"""Periodic checks of the daemon: unacknowledged urgent requests (sent and received),
preservations ending, the directory expiring.

Each warning is raised once (``notices`` table / ``ack_warned_at``), however often the
check runs; reminders of received requests repeat on their schedule, each with its own id
(:mod:`node.exchange.escalation`). Every check takes ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keys.encoding import format_time
from node.config import AlertSettings
from node.exchange.alerts import Alert, Alerter
from node.exchange.escalation import directory_stage, expiring_id, reminder_id
from node.reports.preservation import expiring, preservation_clocks
from node.storage.records import StoredMessage
from node.storage.store import Store
from node.trust.peers import PeerKeys


def ack_deadline(msg: StoredMessage, settings: AlertSettings) -> datetime | None:
    """When ``msg`` should have been acknowledged (None for routine messages)."""
    minutes = {
        "urgent": settings.ack_deadline_urgent,
        "emergency": settings.ack_deadline_emergency,
    }.get(msg.priority)
    if minutes is None:
        return None
    return msg.created_at + timedelta(minutes=minutes)


async def check_acknowledgements(
    store: Store, alerter: Alerter, peers: PeerKeys, settings: AlertSettings, now: datetime
) -> list[str]:
    """Warn about each urgent or emergency request not acknowledged in time, naming the
    recipient's 24/7 phone so the officer can call. Returns the message ids warned about."""
    warned = []
    for msg in await store.unacknowledged_outgoing(("urgent", "emergency")):
        deadline = ack_deadline(msg, settings)
        if deadline is None or deadline > now:
            continue
        phone = peers.contact_phone(msg.counterpart)
        stamp = format_time(now)
        await store.set_fields(msg.msg_id, ack_warned_at=stamp)
        await alerter.raise_alert(
            Alert.about(
                msg,
                "not_acknowledged",
                stamp,
                {
                    "sent_at": format_time(msg.created_at),
                    "deadline": format_time(deadline),
                    "state": msg.state,
                    "phone": phone,
                    "advice": (
                        f"call {msg.counterpart}'s 24/7 point of contact on {phone}"
                        if phone
                        else f"call {msg.counterpart}'s 24/7 point of contact (no phone in "
                        "node.toml [contacts])"
                    ),
                },
            )
        )
        warned.append(msg.msg_id)
    return warned


def reminder_interval(priority: str, settings: AlertSettings) -> timedelta | None:
    """How often an unacknowledged received request of ``priority`` is recalled."""
    minutes = {
        "emergency": settings.remind_every_emergency,
        "urgent": settings.remind_every_urgent,
    }.get(priority)
    return timedelta(minutes=minutes) if minutes else None


async def check_reminders(
    store: Store, alerter: Alerter, settings: AlertSettings, now: datetime
) -> list[str]:
    """Recall each received emergency or urgent request nobody has acknowledged, on its
    priority's schedule, until someone does. Returns the ids of the reminders raised."""
    raised = []
    stamp = format_time(now)
    for msg in await store.unacknowledged_incoming(("emergency", "urgent")):
        every = reminder_interval(msg.priority, settings)
        received = msg.stored_at
        rid = None if every is None else reminder_id(msg.msg_id, received, every, now)
        if rid is None or not await store.notice_once(rid, stamp):
            continue
        minutes = round((now - received).total_seconds() / 60)
        await alerter.raise_alert(
            Alert.about(
                msg,
                "reminder",
                stamp,
                {
                    "received_at": msg.stored_at,
                    "minutes_waiting": minutes,
                    "reminder": int(rid.rsplit(":", 1)[1]),
                    "advice": f"{msg.priority} request from {msg.counterpart} waiting "
                    f"{minutes} min: take it in hand with 'node ack {msg.msg_id[:8]}'",
                },
                id=rid,
            )
        )
        raised.append(rid)
    return raised


async def check_directory(
    store: Store, alerter: Alerter, peers: PeerKeys, now: datetime
) -> str | None:
    """Warn 30, 7 and 1 days before the directory in force expires (once each per
    version), and once when a later version ends a warned expiry. Returns the alert id."""
    current = getattr(peers, "current", None)
    version, expires = getattr(current, "version", None), getattr(current, "expires", None)
    if not isinstance(version, int) or not isinstance(expires, datetime):
        return None  # development mode: no signed directory
    stamp = format_time(now)
    stage = directory_stage(expires, now)
    if stage is not None:
        aid = expiring_id(version, stage)
        if not await store.notice_once(aid, stamp):
            return None
        days = round((expires - now).total_seconds() / 86400, 1)
        detail = {
            "version": version,
            "expires": format_time(expires),
            "days_left": days,
            "advice": "ask the secretariat for a new signed directory; when it expires "
            "this node stops opening and sending",
        }
        await alerter.raise_alert(Alert.network("directory_expiring", stamp, aid, detail))
        return aid
    warned = await store.notice_keys("directory_expiring:")
    if not any(int(k.split(":")[1]) < version for k in warned):
        return None
    aid = f"directory_renewed:{version}"
    if not await store.notice_once(aid, stamp):
        return None
    detail = {"version": version, "expires": format_time(expires)}
    await alerter.raise_alert(Alert.network("directory_renewed", stamp, aid, detail))
    return aid


async def check_preservations(
    store: Store, alerter: Alerter, settings: AlertSettings, now: datetime
) -> list[str]:
    """Warn once per date about each preservation ending within the warning period."""
    clocks = preservation_clocks(await store.preservation_messages(), now)
    warned = []
    for clock in expiring(clocks, settings.preservation_warn_days):
        key = f"preservation:{clock.conversation_id}:{clock.preserved_until}:{clock.status}"
        if not await store.notice_once(key, format_time(now)):
            continue
        await alerter.raise_alert(
            Alert(
                type="preservation_expiring",
                msg_id=clock.request_msg_id,
                kind="preservation_request",
                priority="urgent",
                counterpart=clock.counterpart,
                at=format_time(now),
                detail={
                    "role": clock.role,
                    "preserved_until": clock.preserved_until,
                    "days_left": clock.days_left,
                    "status": clock.status,
                    "advice": (
                        "send the MLA request and an mla_submitted_notice, or a "
                        "preservation_extension"
                        if clock.role == "requested"
                        else "the preservation you execute is ending: check for an MLA request"
                    ),
                },
            )
        )
        warned.append(clock.request_msg_id)
    return warned
