"""Timelines and evidence bundles: every signature checked, tampering caught offline."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import b64u_decode, b64u_encode
from keys.errors import ValidationError
from keys.identities import SigningKey
from node.evidence.bundle import build_evidence, verify_bundle_doc
from node.evidence.timeline import build_timeline, render_text
from node.forms import validate_form
from node.forms.examples import example
from node.trust.keyhistory import KeyHistory
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def exchanged(tmp_path: Path):  # type: ignore[no-untyped-def]
    """FR sent a preservation request; DE retrieved, acknowledged and answered it."""
    clock = FakeClock(T0)
    net = FakeRelayNetwork(clock)
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    for n in (fr, de):
        await n.peers.refresh(n.transport, clock())
    form = validate_form("preservation_request", example("preservation_request", T0), now=T0)
    msg = await fr.outbox.queue("DE", form, clock())
    await fr.outbox.submit(msg, clock())
    clock.advance(seconds=2)
    await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())
    clock.advance(seconds=30)
    from keys import receipts
    from keys.encoding import format_time

    got = await de.store.get_message(msg.msg_id)
    ack = receipts.issue_at(
        clock(),
        de.keystore.signing_key,
        type="ACKNOWLEDGED",
        msg_id=msg.msg_id,
        envelope_sha256=got.envelope_sha256,
        issuer="DE",
    )
    await de.store.acknowledge(msg.msg_id, ack, format_time(clock()))
    await de.outbox.post_receipts(clock())
    clock.advance(minutes=10)
    answer = validate_form(
        "preservation_response", example("preservation_response", T0), now=clock()
    )
    reply = await de.outbox.queue(
        "FR", answer, clock(), conversation_id=msg.conversation_id, in_reply_to=msg.msg_id
    )
    await de.outbox.submit(reply, clock())
    await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=10), clock())
    yield fr, de, msg.msg_id
    await fr.close()
    await de.close()


async def evidence_of(node: Any, msg_id: str) -> dict[str, Any]:
    msg = await node.store.get_message(msg_id)
    stored = await node.store.receipts_for(msg_id)
    keys = {p: node.peers.key_history(p) for p in ("FR", "DE", "relay")}
    return build_evidence(
        msg, stored, keys, exported_at="2025-03-02T00:00:00.000Z", exported_by="FR"
    )


async def test_timeline_of_the_sender(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    msg = await fr.store.get_message(msg_id)
    t = build_timeline(
        msg,
        await fr.store.receipts_for(msg_id),
        await fr.store.replies_to(msg_id),
        fr.peers.key_at,
    )
    assert [(e.event, e.issuer) for e in t.entries] == [
        ("sent", "FR"),
        ("ACCEPTED", "relay"),
        ("DELIVERED", "relay"),  # same instant on this clock: the documented order wins
        ("RETRIEVED", "DE"),
        ("ACKNOWLEDGED", "DE"),
        ("reply", "DE"),
    ]
    assert t.all_signatures_valid and not t.altered
    assert t.entries[-1].detail["kind"] == "preservation_response"
    text = render_text(t)
    assert "ACKNOWLEDGED by DE       signature valid" in text and "WARNING" not in text


async def test_timeline_flags_a_signature_that_no_longer_verifies(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    msg = await fr.store.get_message(msg_id)
    impostor = SigningKey.generate().public
    lookup = lambda p, at: impostor if p == "DE" else fr.peers.key_at(p, at)  # noqa: E731
    t = build_timeline(msg, await fr.store.receipts_for(msg_id), [], lookup)
    bad = {e.event for e in t.entries if e.signature == "INVALID"}
    assert bad == {"RETRIEVED", "ACKNOWLEDGED"}
    assert "WARNING: a signature does not verify" in render_text(t)


async def test_timeline_of_the_recipient_shows_what_it_issued(exchanged: Any) -> None:
    _fr, de, msg_id = exchanged
    msg = await de.store.get_message(msg_id)
    t = build_timeline(
        msg,
        await de.store.receipts_for(msg_id),
        await de.store.replies_to(msg_id),
        de.peers.key_at,
    )
    assert [e.event for e in t.entries] == ["received", "RETRIEVED", "ACKNOWLEDGED", "reply"]
    assert all(e.detail.get("posted_to_relay", True) for e in t.entries)


async def test_evidence_verifies_offline(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    doc = await evidence_of(fr, msg_id)
    assert "summary_of_facts" not in str(doc)  # the envelope stays encrypted
    report = verify_bundle_doc(doc)
    assert report.valid and report.key_source == "included"
    assert len([c for c in report.checks if "signature" in c["check"]]) == 1 + 4
    assert verify_bundle_doc(doc, fr.peers.key_history).valid


def _other_key(party: str) -> dict[str, Any]:
    """A key history naming a key nobody signed with, valid at every time."""
    return KeyHistory.single(party, SigningKey.generate().public).to_dict()


def _flip(b64: str) -> str:
    raw = bytearray(b64u_decode(b64))
    raw[len(raw) // 2] ^= 1
    return b64u_encode(bytes(raw))


TAMPER = [
    (
        "receipt_payload",
        lambda d: d["receipts"][1].__setitem__("payload", _flip(d["receipts"][1]["payload"])),
        "signature",
    ),
    (
        "receipt_sig",
        lambda d: d["receipts"][0].__setitem__("sig", _flip(d["receipts"][0]["sig"])),
        "signature",
    ),
    (
        "ciphertext",
        lambda d: d["envelope"].__setitem__("ciphertext", _flip(d["envelope"]["ciphertext"])),
        "envelope digest",
    ),
    ("digest", lambda d: d.__setitem__("envelope_sha256", "0" * 64), "envelope digest"),
    ("msg_id", lambda d: d.__setitem__("msg_id", "f" * 32), "msg_id matches"),
    (
        "included_key",
        lambda d: d["keys"].__setitem__("DE", _other_key("DE")),
        "by DE",
    ),
    ("dropped_key", lambda d: d["keys"].pop("relay"), "by relay"),
]


@pytest.mark.parametrize(("name", "tamper", "failing"), TAMPER, ids=[t[0] for t in TAMPER])
async def test_tampered_evidence_is_caught(
    exchanged: Any, name: str, tamper: Any, failing: str
) -> None:
    fr, _de, msg_id = exchanged
    doc = copy.deepcopy(await evidence_of(fr, msg_id))
    tamper(doc)
    report = verify_bundle_doc(doc)
    assert not report.valid
    assert any(failing in c["check"] for c in report.checks if not c["ok"]), report.checks


async def test_pinned_keys_override_keys_in_the_bundle(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    doc = await evidence_of(fr, msg_id)
    doc["keys"]["DE"] = _other_key(
        "DE"
    )  # a forger swapped in his own key ... and re-signed nothing
    report = verify_bundle_doc(doc, fr.peers.key_history)
    assert report.valid  # the pinned key is used, and the note says so
    assert any("differs from the pinned one" in c.get("note", "") for c in report.checks)


def test_not_an_evidence_bundle() -> None:
    with pytest.raises(ValidationError, match="not a PoCNet evidence bundle"):
        verify_bundle_doc({"format": "something-else"})
