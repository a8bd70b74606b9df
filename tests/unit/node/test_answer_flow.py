"""The one answer path (:mod:`node.exchange.answer`) that ``node respond`` and the console
both call: a bad form leaves nothing behind; a good one is acknowledged, queued in the
request's conversation, submitted, marks the request responded and is access-logged with
who answered; a sent message cannot be answered."""

from __future__ import annotations

import pytest

from keys.errors import InvalidInput
from node.cli import sending
from node.console import respond_views
from node.exchange import answer
from node.exchange.answer import Sender, answer_form, respond
from node.forms import FormInvalid
from node.forms.examples import example
from node.runtime import Node
from tests.support.console import deliver
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import clock, pair

__all__ = ["clock", "pair"]  # fixtures shared with test_console_app


def sender_of(node: Node) -> Sender:
    return Sender(node.store, node.outbox, node.keystore.signing_key, node.config.party)


def test_the_cli_and_the_console_call_the_same_functions() -> None:
    assert sending.respond is answer.respond
    assert respond_views.respond_shared is answer.respond
    assert respond_views.answer_form is answer.answer_form
    assert sending.send_form is answer.send_form


async def test_a_bad_answer_leaves_nothing_behind(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await deliver(fr, de, clock)
    original = await de.store.get_message(msg_id)
    with pytest.raises(FormInvalid) as e:
        await respond(
            sender_of(de), original, "preservation_response", {}, who="officer:anna",
            clock=clock,
        )  # fmt: skip
    assert any(p.path == "outcome" for p in e.value.problems)
    after = await de.store.get_message(msg_id)
    assert after.acknowledged_at is None and after.state == original.state
    assert await de.store.replies_to(msg_id) == []
    assert [r.action for r in await de.store.access_records(msg_id=msg_id)] == []


async def test_a_good_answer_is_acknowledged_queued_sent_and_logged(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await deliver(fr, de, clock)
    original = await de.store.get_message(msg_id)
    data = example("preservation_response", clock())
    data.pop("request_reference", None)  # carried over from the request
    form, sent = await respond(
        sender_of(de), original, "preservation_response", data, who="officer:anna", clock=clock
    )
    assert sent.outcome == "accepted"
    assert form.body["request_reference"] == original.body["reference"]
    assert form.priority == "urgent"  # inherited from the request
    reply = await de.store.get_message(sent.msg_id)
    assert reply.in_reply_to == msg_id and reply.conversation_id == original.conversation_id
    after = await de.store.get_message(msg_id)
    assert after.acknowledged_at is not None and after.state == "responded"
    log = [(r.os_user, r.action, r.detail) for r in await de.store.access_records(msg_id=msg_id)]
    assert log == [
        ("officer:anna", "acknowledge", None),
        ("officer:anna", "answer", f"preservation_response {sent.msg_id}"),
    ]


async def test_only_received_messages_are_answered(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, de = pair
    msg_id = await deliver(fr, de, clock)
    mine = await fr.store.get_message(msg_id)
    with pytest.raises(InvalidInput) as e:
        answer_form(mine, "preservation_response", {}, now=clock())
    assert e.value.code == "not_received"
