"""Outbox: commit before submit, retry with backoff and jitter, resubmission, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.errors import NotFound, PocnetError
from keys.identities import SigningKey
from keys.keystore import Keystore, verify_bundle
from node.config import OutboxSettings
from node.exchange.outbox import Backoff
from node.forms import validate_form
from node.forms.examples import example
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def net(clock: FakeClock) -> FakeRelayNetwork:
    return FakeRelayNetwork(clock)


@pytest.fixture
async def pair(net: FakeRelayNetwork, clock: FakeClock, tmp_path: Path):  # type: ignore[no-untyped-def]
    fr = await fake_node(
        net, tmp_path / "fr", "FR", clock=clock, outbox=OutboxSettings(retry_base=2, retry_max=60)
    )
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    await fr.peers.refresh(fr.transport, clock())
    await de.peers.refresh(de.transport, clock())
    yield fr, de
    await fr.close()
    await de.close()


def ping(now: datetime, priority: str | None = None):  # type: ignore[no-untyped-def]
    return validate_form("ping", {}, now=now, priority=priority)


# -- backoff -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        (1, 1.0, 2.0),
        (2, 2.0, 4.0),
        (3, 4.0, 8.0),
        (6, 32.0, 64.0),
        (10, 150.0, 300.0),
        (99, 150.0, 300.0),
    ],
)
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(
    attempts: int, low: float, high: float
) -> None:
    b = Backoff(base=2.0, cap=300.0)
    assert b.delay(attempts, lambda: 0.0) == low
    assert b.delay(attempts, lambda: 1.0) == high
    assert low <= b.delay(attempts) <= high


def test_backoff_jitter_spreads_retries() -> None:
    b = Backoff(base=1.0, cap=60.0)
    values = {round(b.delay(5), 6) for _ in range(50)}
    assert len(values) > 40  # not a fixed schedule: nodes do not retry in lockstep


async def test_outbox_and_inbox_reprs_show_no_key(pair) -> None:  # type: ignore[no-untyped-def]
    """They hold the keystore (:class:`node.exchange.context.Exchange`): a repr that reaches a
    log or a traceback must not carry it."""
    fr, _ = pair
    seed = fr.keystore.signing_key.seed.hex()
    for part in (fr.outbox, fr.inbox):
        text = repr(part)
        assert seed not in text and "keystore" not in text and "Keystore" not in text
    assert fr.inbox.party == fr.outbox.party == "FR"


# -- sending -------------------------------------------------------------------------------


async def test_queue_commits_before_submit_and_accepted_is_verified(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, _ = pair
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    assert (await fr.store.get_message(msg.msg_id)).state == "queued"
    assert msg.msg_id not in net.envelopes  # nothing left the node yet
    assert await fr.outbox.submit(msg, clock()) == "accepted"
    stored = await fr.store.get_message(msg.msg_id)
    assert stored.state == "accepted"
    [accepted] = await fr.store.receipts_for(msg.msg_id)
    assert (accepted.type, accepted.issuer) == ("ACCEPTED", "relay")
    assert (
        accepted.envelope_sha256
        == stored.envelope_sha256
        == net.envelopes[msg.msg_id].envelope.sha256
    )


async def test_relay_down_keeps_the_message_and_retries_with_backoff(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, _ = pair
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    net.down = True
    fr.outbox.rand = lambda: 0.5
    assert await fr.outbox.submit(msg, clock()) == "retrying"
    stored = await fr.store.get_message(msg.msg_id)
    assert (stored.state, stored.attempts, stored.last_error) == ("queued", 1, "relay_unreachable")
    assert stored.next_attempt_at == T0 + timedelta(seconds=1.5)  # base 2: [1, 2]
    # Not due yet: a flush does not touch it.
    report = await fr.outbox.flush(clock())
    assert report.accepted == report.retrying == []
    # Due, still down: second attempt, longer delay.
    clock.advance(seconds=2)
    report = await fr.outbox.flush(clock())
    assert report.retrying == [msg.msg_id] and report.unreachable
    stored = await fr.store.get_message(msg.msg_id)
    assert stored.attempts == 2
    assert stored.next_attempt_at == clock() + timedelta(seconds=3.0)
    # Back up: delivered on the next due flush, exactly once.
    net.down = False
    clock.advance(seconds=3)
    report = await fr.outbox.flush(clock())
    assert report.accepted == [msg.msg_id]
    assert (await fr.store.get_message(msg.msg_id)).state == "accepted"
    assert list(net.envelopes) == [msg.msg_id]


async def test_resubmission_after_a_crash_gets_the_same_receipt(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, _ = pair
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    # The envelope reached the relay, but the node died before storing ACCEPTED.
    first = await fr.transport.submit(msg.envelope)
    assert first.created
    report = await fr.outbox.flush(clock(), everything=True)
    assert report.accepted == [msg.msg_id]
    [receipt] = await fr.store.receipts_for(msg.msg_id)
    assert receipt.type == "ACCEPTED"
    assert len(net.inboxes["DE"]) == 1  # delivered once


async def test_accepted_with_a_bad_signature_is_not_trusted(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, _ = pair
    net.keystore = Keystore("relay", SigningKey.generate())  # an impostor signs receipts
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    assert await fr.outbox.submit(msg, clock()) == "retrying"
    stored = await fr.store.get_message(msg.msg_id)
    assert stored.state == "queued" and stored.last_error == "rejected"
    assert await fr.store.receipts_for(msg.msg_id) == []


async def test_a_final_refusal_marks_the_message_failed(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, _ = pair
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    del net.bundles["DE"]  # the relay no longer lists DE
    assert await fr.outbox.submit(msg, clock()) == "failed"
    stored = await fr.store.get_message(msg.msg_id)
    assert stored.state == "failed" and stored.last_error.startswith("forbidden")
    assert await fr.store.due_outgoing("") == []


async def test_flush_everything_ignores_the_schedule(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, _ = pair
    net.down = True
    ids = []
    for _ in range(3):
        msg = await fr.outbox.queue("DE", ping(clock()), clock())
        await fr.outbox.submit(msg, clock())
        ids.append(msg.msg_id)
    net.down = False
    report = await fr.outbox.flush(clock(), everything=True)
    assert sorted(report.accepted) == sorted(ids)


async def test_unknown_recipient_cannot_be_queued(
    pair: tuple[Node, Node], clock: FakeClock
) -> None:
    fr, _ = pair
    with pytest.raises(NotFound, match="unknown party IT"):
        await fr.outbox.queue("IT", ping(clock()), clock())
    assert await fr.store.list_messages() == []


async def test_receipts_are_retried_until_the_relay_takes_them(
    pair: tuple[Node, Node], net: FakeRelayNetwork, clock: FakeClock
) -> None:
    fr, de = pair
    msg = await fr.outbox.queue(
        "DE",
        validate_form("assistance_request", example("assistance_request", T0), now=T0),
        clock(),
    )
    await fr.outbox.submit(msg, clock())
    items = await de.transport.inbox(wait=0, limit=10)
    net.down = True
    # DE stores the message; acking and posting RETRIEVED fail: the relay is down.
    with pytest.raises(PocnetError):
        await de.inbox.handle(items, clock())
    [pending] = await de.store.pending_receipts("")
    assert pending.type == "RETRIEVED"
    net.down = False
    clock.advance(seconds=5)
    report = await de.outbox.flush(clock())
    assert report.receipts_posted == 1
    assert await de.store.pending_receipts("") == []
    assert clock() > pending.stored_at


async def test_relay_key_unknown_is_fetched_to_check_accepted(
    net: FakeRelayNetwork, clock: FakeClock, tmp_path: Path
) -> None:
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    # FR has DE's bundle pinned (e.g. from an earlier session) but not the relay's key.
    info = verify_bundle(net.bundles["DE"])
    await fr.store.pin(
        "DE", net.bundles["DE"], info.signing_key.to_b64(), info.signing_key.key_id, "t"
    )
    await fr.peers.load()
    assert not fr.peers.knows("relay")
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    assert await fr.outbox.submit(msg, clock()) == "accepted"
    assert fr.peers.knows("relay")
    await fr.close()
    await de.close()


# -- the grace left to 'node send' ---------------------------------------------------------


async def test_daemon_leaves_a_fresh_envelope_to_send_until_the_grace_ends(
    pair, clock: FakeClock, net: FakeRelayNetwork
) -> None:  # type: ignore[no-untyped-def]
    """``node send`` killed (-9) between queue and submit: the daemon's due-only flush
    stays off the envelope for ``send_grace_seconds`` (default 10), then delivers it."""
    fr, _ = pair
    assert fr.config.outbox.send_grace_seconds == 10
    msg = await fr.outbox.queue("DE", ping(clock()), clock())  # ... and the command dies
    assert msg.next_attempt_at == T0 + timedelta(seconds=10)
    report = await fr.outbox.flush(clock.advance(seconds=9.999))
    assert report.accepted == [] and net.envelopes == {}
    assert (await fr.store.get_message(msg.msg_id)).state == "queued"
    report = await fr.outbox.flush(clock.advance(seconds=0.001))
    assert report.accepted == [msg.msg_id]
    assert list(net.envelopes) == [msg.msg_id]


async def test_send_submits_its_envelope_once_and_the_daemon_finds_nothing(
    pair, clock: FakeClock, net: FakeRelayNetwork
) -> None:  # type: ignore[no-untyped-def]
    fr, _ = pair
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    assert await fr.outbox.submit(msg, clock()) == "accepted"
    report = await fr.outbox.flush(clock.advance(seconds=11))
    assert report.accepted == [] and report.retrying == []
    assert list(net.envelopes) == [msg.msg_id]


async def test_send_meeting_an_unreachable_relay_sets_the_normal_backoff(
    pair, clock: FakeClock, net: FakeRelayNetwork
) -> None:  # type: ignore[no-untyped-def]
    fr, _ = pair
    net.down = True
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    assert await fr.outbox.submit(msg, clock()) == "retrying"
    stored = await fr.store.get_message(msg.msg_id)
    assert stored.next_attempt_at is not None
    due = stored.next_attempt_at
    assert T0 + timedelta(seconds=1) <= due <= T0 + timedelta(seconds=2)  # retry_base=2
    net.down = False
    report = await fr.outbox.flush(due)
    assert report.accepted == [msg.msg_id]


async def test_node_flush_ignores_the_send_grace(
    pair, clock: FakeClock, net: FakeRelayNetwork
) -> None:  # type: ignore[no-untyped-def]
    fr, _ = pair
    msg = await fr.outbox.queue("DE", ping(clock()), clock())
    report = await fr.outbox.flush(clock(), everything=True)
    assert report.accepted == [msg.msg_id]


async def test_an_explicit_grace_overrides_the_setting(pair, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    fr, _ = pair
    now_due = await fr.outbox.queue("DE", ping(clock()), clock(), grace=timedelta(0))
    later = await fr.outbox.queue("DE", ping(clock()), clock(), grace=timedelta(seconds=3))
    assert now_due.next_attempt_at == T0
    assert later.next_attempt_at == T0 + timedelta(seconds=3)
    report = await fr.outbox.flush(clock())
    assert report.accepted == [now_due.msg_id]
