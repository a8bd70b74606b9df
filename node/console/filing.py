"""The PDF of one stored message, gathered the same way for ``node show --format pdf`` and
the console's download button: the timeline with every signature checked again, the
sender's authority and time zone from the signed directory, then :func:`node.console.pdf.as_pdf`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from node.console.pdf import Filing, as_pdf
from node.console.pdffont import PdfFont, find_font
from node.console.printable import readable
from node.evidence.auditview import proven_timeline
from node.storage.records import StoredMessage
from node.storage.store import Store
from node.trust.peers import PeerKeys


def directory_profile(peers: PeerKeys, party: str) -> tuple[str, str | None]:
    """(authority, time zone) of ``party`` in the signed directory, ('', None) if absent."""
    current = getattr(peers, "current", None)
    if current is None or party not in current:
        return "", None
    return str(current.party(party).authority), str(current.contact(party).timezone)


async def message_pdf(
    store: Store,
    peers: PeerKeys,
    msg: StoredMessage,
    *,
    own_party: str,
    officer_zone: str | None,
    printed_at: datetime,
    printed_by: str,
    font: PdfFont | None = None,
) -> bytes:
    """The PDF of ``msg`` as ``printed_by`` files it at ``printed_at`` (the caller writes
    the access record)."""
    sender = msg.counterpart if msg.direction == "in" else own_party
    authority, sender_zone = directory_profile(peers, sender)
    timeline = await proven_timeline(store, peers, msg)
    view = readable(msg, timeline, sender_zone)
    filing = Filing(sender, authority, officer_zone, printed_at, printed_by)
    # a few tenths of a second of layout: off the event loop, which serves the console
    return await asyncio.to_thread(as_pdf, view, filing, font or find_font())
