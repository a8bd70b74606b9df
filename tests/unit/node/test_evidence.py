"""Timelines and evidence bundles: every signature checked, tampering caught offline."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from keys.encoding import b64u_decode, b64u_encode, canonical, pae
from keys.envelope import TYPE_MESSAGE
from keys.errors import NotFound, ValidationError
from keys.identities import SigningKey
from node.evidence.bundle import build_evidence, export_bundle, verify_bundle_doc
from node.evidence.timeline import build_timeline, render_text
from node.forms import validate_form
from node.forms.examples import example
from node.storage.schema import message_signatures
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


# -- evidence with content (version 3) ----------------------------------------------------


async def content_evidence_of(node: Any, msg_id: str) -> dict[str, Any]:
    msg = await node.store.get_message(msg_id)
    return await export_bundle(
        node.store,
        node.peers,
        msg,
        origin="pocnet-test",
        exported_at="2025-03-02T00:00:00.000Z",
        exported_by=node.config.party,
        with_content=True,
    )


@pytest.mark.parametrize("exporter", ["sender", "recipient"])
async def test_evidence_with_content_shows_what_the_sender_signed(
    exchanged: Any, exporter: str
) -> None:
    fr, de, msg_id = exchanged
    node = fr if exporter == "sender" else de
    doc = await content_evidence_of(node, msg_id)
    assert doc["v"] == 3 and doc["content"] is not None
    report = verify_bundle_doc(doc, node.peers.key_history)
    assert report.valid, report.checks
    assert {"check": "content signed by FR for this message", "ok": True} in report.checks
    sent = await fr.store.get_message(msg_id)
    assert report.content is not None
    assert report.content == sent.content  # what FR wrote, as DE decrypted it too
    assert report.content["kind"] == "preservation_request"


async def test_both_ends_export_the_same_signed_content(exchanged: Any) -> None:
    fr, de, msg_id = exchanged
    mine = await content_evidence_of(fr, msg_id)
    theirs = await content_evidence_of(de, msg_id)
    assert mine["content"] == theirs["content"]  # Ed25519 is deterministic: same bytes, same sig


def _flip_byte(b64: str, index: int) -> str:
    raw = bytearray(b64u_decode(b64))
    raw[index % len(raw)] ^= 0x01
    return b64u_encode(bytes(raw))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from(["message", "signature"]), index=st.integers(min_value=0))
async def test_any_changed_byte_of_the_content_is_caught(
    exchanged: Any, part: str, index: int
) -> None:
    fr, _de, msg_id = exchanged
    doc = copy.deepcopy(await content_evidence_of(fr, msg_id))
    doc["content"][part] = _flip_byte(doc["content"][part], index)
    report = verify_bundle_doc(doc, fr.peers.key_history)
    assert not report.valid
    assert report.content is None
    assert [c["check"] for c in report.checks if not c["ok"]] == [
        "content signed by FR for this message"
    ]


async def test_content_of_another_message_is_refused(exchanged: Any) -> None:
    """DE's answer is signed by DE: put into the request's bundle it names another id and
    another signer, and fails even where the signature itself is DE's own."""
    fr, _de, msg_id = exchanged
    doc = await content_evidence_of(fr, msg_id)
    (reply,) = await fr.store.replies_to(msg_id)
    doc["content"] = (await content_evidence_of(fr, reply.msg_id))["content"]
    report = verify_bundle_doc(doc, fr.peers.key_history)
    assert not report.valid
    failed = [c for c in report.checks if not c["ok"]]
    assert failed[0]["check"] == "content signed by FR for this message"
    assert failed[0]["note"] == "the sender's signature does not cover these bytes"


async def test_content_that_disagrees_with_the_header_is_refused(exchanged: Any) -> None:
    """FR signs a second message under the same id but another priority: the signature
    holds, the header does not agree."""
    fr, _de, msg_id = exchanged
    doc = await content_evidence_of(fr, msg_id)
    sent = await fr.store.get_message(msg_id)
    other = dict(sent.content, priority="emergency")
    raw = canonical(other)
    doc["content"] = {
        "message": b64u_encode(raw),
        "signature": b64u_encode(fr.keystore.signing_key.sign(pae(TYPE_MESSAGE, raw))),
    }
    report = verify_bundle_doc(doc, fr.peers.key_history)
    failed = [c for c in report.checks if not c["ok"]]
    assert [c.get("note") for c in failed] == [
        "the message names another id, party, time or priority than the envelope"
    ]


async def test_a_message_stored_without_its_signature_cannot_be_exported_with_content(
    exchanged: Any,
) -> None:
    fr, _de, msg_id = exchanged
    async with fr.store._write() as conn:
        await conn.execute(delete(message_signatures))
    with pytest.raises(NotFound, match="without --with-content") as caught:
        await content_evidence_of(fr, msg_id)
    assert caught.value.code == "no_inner_signature"


async def test_a_version_2_bundle_still_verifies(exchanged: Any) -> None:
    fr, _de, msg_id = exchanged
    doc = await evidence_of(fr, msg_id)
    assert doc.pop("content") is None
    doc["v"] = 2
    assert verify_bundle_doc(doc, fr.peers.key_history).valid
