"""node.exchange.triage: what the inbox does with an incoming envelope, by named case."""

from __future__ import annotations

import pytest

from node.exchange.triage import Triage, rejection_reason, triage

# name: (stored, rejected_before, sender_known, key_usable, refreshed) -> decision
TRIAGE = {
    "new-known-sender-usable-key": ((False, False, True, True, False), Triage.OPEN),
    "new-after-refresh": ((False, False, True, True, True), Triage.OPEN),
    "unknown-sender": ((False, False, False, True, False), Triage.REFRESH_THEN_OPEN),
    "key-not-usable": ((False, False, True, False, False), Triage.REFRESH_THEN_OPEN),
    "unknown-sender-and-key": ((False, False, False, False, False), Triage.REFRESH_THEN_OPEN),
    "unknown-sender-refreshed-this-batch": ((False, False, False, True, True), Triage.OPEN),
    "key-not-usable-refreshed-this-batch": ((False, False, True, False, True), Triage.OPEN),
    "stored-msg-id": ((True, False, True, True, False), Triage.STORED),
    "stored-beats-everything": ((True, True, False, False, False), Triage.STORED),
    "rejected-before": ((False, True, True, True, False), Triage.REJECTED_BEFORE),
    "rejected-before-beats-refresh": ((False, True, False, False, False), Triage.REJECTED_BEFORE),
}


@pytest.mark.parametrize("name", list(TRIAGE))
def test_triage(name: str) -> None:
    (stored, rejected_before, sender_known, key_usable, refreshed), expected = TRIAGE[name]
    got = triage(
        stored=stored,
        rejected_before=rejected_before,
        sender_known=sender_known,
        key_usable=key_usable,
        refreshed=refreshed,
    )
    assert got is expected


OURS = {"x25519:" + "1" * 32}
# name: (reason from opening, enc_key_id of the envelope) -> reason recorded (None: a replay)
REASONS = {
    "replay-is-a-duplicate": (("replay", "x25519:" + "1" * 32), None),
    "unknown-key-that-is-ours-is-retired": (
        ("unknown_enc_key", "x25519:" + "1" * 32),
        "enc_key_retired",
    ),
    "unknown-key-not-ours": (("unknown_enc_key", "x25519:" + "2" * 32), "unknown_enc_key"),
    "bad-signature-kept": (("outer_signature", "x25519:" + "1" * 32), "outer_signature"),
    "decrypt-kept": (("decrypt", "x25519:" + "2" * 32), "decrypt"),
    "expired-kept": (("expired", "x25519:" + "1" * 32), "expired"),
}


@pytest.mark.parametrize("name", list(REASONS))
def test_rejection_reason(name: str) -> None:
    (reason, key_id), expected = REASONS[name]
    assert rejection_reason(reason, enc_key_id=key_id, own_key_ids=OURS) == expected
