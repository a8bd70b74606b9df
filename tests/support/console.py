"""A console over a test node (fake relay), for the console's unit tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import nacl.pwhash
import structlog
from multidict import MultiDict

from keys.encoding import format_time
from node.console.accounts import hash_password
from node.console.board import AckDeadlines
from node.console.context import Console, ConsoleOptions
from node.console.formgen import inputs
from node.exchange.answer import Sender, send_form
from node.forms import KINDS, validate_form
from node.forms.examples import example
from node.forms.registry import fields_for
from node.runtime import Node
from tests.support.fake_relay import FakeClock

FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}
PASSWORD = "night-shift-password"


async def console_for(
    node: Node, clock: Callable[[], datetime], *, officers: tuple[str, ...] = ("anna",), **kw: Any
) -> Console:
    for name in officers:
        await node.store.add_officer(
            name, "officer", hash_password(PASSWORD, **FAST), format_time(clock())
        )
    return Console(
        party=node.config.party,
        store=node.store,
        peers=node.peers,
        outbox=node.outbox,
        signing_key=node.keystore.signing_key,
        ack=AckDeadlines(),
        settings=ConsoleOptions(**kw),
        log=structlog.get_logger(),
        clock=clock,
    )


def posted_form(form_kind: str, values: dict[str, Any], **base: str) -> MultiDict[str]:
    """What a browser posts for the console's generated ``form_kind`` form filled with
    ``values`` (checkboxes repeated, headings and empty inputs left out), plus ``base``."""
    data: MultiDict[str] = MultiDict(base)
    for i in inputs(fields_for(KINDS[form_kind]), values):
        if i.widget == "checkboxes":
            for v in i.value:
                data.add(i.name, v)
        elif i.widget != "heading" and i.value not in ("", None):
            data.add(i.name, str(i.value))
    return data


async def deliver(
    fr: Node,
    de: Node,
    clock: FakeClock,
    kind: str = "preservation_request",
    priority: str = "urgent",
    **changes: Any,
) -> str:
    """``fr`` sends ``de`` the example ``kind`` (with ``changes``) through the shared
    sending path, and ``de`` receives it; the message id."""
    body = {**example(kind, clock(), fr.config.party), **changes}
    form = validate_form(kind, body, now=clock(), priority=priority)
    sender = Sender(fr.store, fr.outbox, fr.keystore.signing_key, fr.config.party)
    sent = await send_form(sender, de.config.party, form, clock)
    assert sent.outcome == "accepted" and sent.ok
    clock.advance(seconds=1)
    await de.inbox.handle(await de.transport.inbox(wait=0, limit=100), clock())
    return sent.msg_id
