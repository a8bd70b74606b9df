"""A first end-to-end check of the core: seal, open, receipt."""

from datetime import UTC, datetime

from keys import receipts
from keys.envelope import StaticSenderKeys, open_at, seal_at
from keys.identities import EncryptionPrivateKey, SigningKey


def test_seal_open_and_receipt() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    fr, de = SigningKey.generate(), SigningKey.generate()
    de_enc = EncryptionPrivateKey.generate("x25519")
    sealed = seal_at(
        now,
        signing_key=fr,
        recipient_key=de_enc.public,
        sender="FR",
        recipient="DE",
        kind="ping",
        body={"note": "are you there?"},
    )
    message = open_at(
        now,
        sealed.envelope.to_bytes(),
        me="DE",
        sender_keys=StaticSenderKeys({"FR": fr.public}),
        decryption_keys={de_enc.public.key_id: de_enc},
    )
    assert message == sealed.message
    signed = receipts.issue_at(
        now,
        de,
        type="RETRIEVED",
        msg_id=message.msg_id,
        envelope_sha256=sealed.envelope.sha256,
        issuer="DE",
    )
    assert receipts.verify(signed.to_bytes(), de.public).receipt.msg_id == message.msg_id
