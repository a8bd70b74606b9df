"""Periodic checks of the daemon: unacknowledged urgent requests, preservations ending.

Each warning is raised once (``notices`` table / ``ack_warned_at``), however often the
check runs. Both checks take ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keys.encoding import format_time
from node.config import AlertSettings
from node.exchange.alerts import Alert, Alerter
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
