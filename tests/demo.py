"""Interim demo (``make demo``): one preservation request from FR to DE, end to end, offline.

1. generates FR's and DE's keys (encrypted keystores, mode 0600, and public bundles) in a
   fresh folder under ``var/demo-keys/``, and reads them back as a node would;
2. FR seals a sample expedited preservation request (Convention Art. 29, T-CY(2018)11)
   to DE: signed, encrypted to DE's hybrid post-quantum key, signed again;
3. shows what the relay would see (the routing header) and what it cannot (the content);
4. DE opens it (every check of docs/protocol.md section 6), issues a signed ``RETRIEVED``
   receipt, and FR verifies that receipt against the envelope it sent;
5. shows that a replay and a single flipped bit are refused.

No relay and no network: a later task replaces this with a whole local network.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keys import receipts
from keys.encoding import format_time
from keys.envelope import Message, StaticSenderKeys, open_at, seal_at
from keys.errors import PocnetError, Rejected
from keys.host.files import BUNDLE_NAME, KEYSTORE_NAME, read_keystore, write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, PublicBundle, StoredEncryptionKey, make_bundle, verify_bundle

ROOT = Path(__file__).resolve().parents[1]
DEMO_PASSPHRASE = b"demo only: not a secret"


def sample_request() -> dict[str, Any]:
    """A realistic expedited preservation request (Art. 29; DESIGN.md section 7)."""
    return {
        "reference": "FR-OFAC-2025-0042",
        "requesting_authority": {
            "organisation": "Office anti-cybercriminalité (OFAC), Police nationale",
            "officer": "Capitaine Anne Martin",
            "phone": "+33 1 00 00 00 00",
            "email": "pc24-7@ofac.example.fr",
            "office_hours": "08:00-19:00 Mon-Fri (24/7 line above)",
            "time_zone": "Europe/Paris",
        },
        "requested_authority": "Bundeskriminalamt, 24/7 point of contact",
        "language": "en",
        "urgency": "urgent",
        "urgency_reason": "the provider keeps connection logs for 7 days only",
        "confidential": True,
        "use_conditions": "for the criminal investigation named above only",
        "request_status": "new",
        "offences": [
            {
                "name": "unauthorised access to an automated data processing system",
                "legal_provision": "Art. 323-1 Code pénal",
            },
            {"name": "extortion", "legal_provision": "Art. 312-1 Code pénal"},
        ],
        "summary_of_facts": (
            "On 27 February 2025 a ransomware group encrypted the servers of a regional "
            "hospital in Lyon and demanded a payment. The intrusion came from an address "
            "hosted in Germany; the data exfiltrated before the encryption went to the same "
            "address."
        ),
        "data_to_preserve": [
            {
                "provider": {"name": "Example Hosting GmbH", "address": "Berlin, Germany"},
                "identifiers": [
                    {
                        "type": "ip_port",
                        "value": "192.0.2.10:443",
                        "window": {
                            "start": "2025-02-27T22:00:00+01:00",
                            "end": "2025-02-28T03:00:00+01:00",
                            "time_zone": "Europe/Paris",
                        },
                    }
                ],
                "data_categories": ["subscriber", "traffic"],
                "relation_to_offence": "address used for the intrusion and the exfiltration",
            }
        ],
        "necessity": "connection logs are deleted after 7 days; without them the "
        "customer behind the address cannot be identified",
        "mla_to_follow": True,
        "art30_disclosure_requested": True,
    }


def make_party(folder: Path, party: str, now: datetime) -> None:
    """Create a party's keystore (encrypted, 0600) and public bundle in ``folder``."""
    key = StoredEncryptionKey(EncryptionPrivateKey.generate("mlkem768-x25519"), format_time(now))
    keystore = Keystore(party, SigningKey.generate(), (key,))
    write_private(folder / KEYSTORE_NAME, keystore.to_bytes(DEMO_PASSPHRASE))
    write_public(folder / BUNDLE_NAME, make_bundle(keystore, now))


def load_party(folder: Path) -> tuple[Keystore, PublicBundle]:
    """Read a party's keys back as a node does: the bundle verified, the keystore opened."""
    bundle = verify_bundle((folder / BUNDLE_NAME).read_bytes())
    keystore = read_keystore(folder / KEYSTORE_NAME, DEMO_PASSPHRASE)
    if keystore.signing_key.public != bundle.signing_key:
        raise SystemExit(f"{folder}: the keystore does not match the bundle")
    return keystore, bundle


def show_message(message: Message) -> None:
    body = message.body
    authority = body["requesting_authority"]
    print(f"  kind         {message.kind}  ({message.priority})")
    print(f"  from -> to   {message.sender} -> {message.recipient}, sent {message.created_at}")
    print(f"  reference    {body['reference']}")
    print(f"  requested by {authority['officer']}, {authority['organisation']}")
    print(f"               {authority['phone']}, {authority['email']} ({authority['time_zone']})")
    for offence in body["offences"]:
        print(f"  offence      {offence['name']} ({offence['legal_provision']})")
    for item in body["data_to_preserve"]:
        print(f"  preserve at  {item['provider']['name']}: {', '.join(item['data_categories'])}")
        for ident in item["identifiers"]:
            w = ident["window"]
            print(f"               {ident['value']} from {w['start']} to {w['end']}")
    print(
        f"  MLA follows  {'yes' if body['mla_to_follow'] else 'no'}; "
        f"Art. 30 disclosure asked: {'yes' if body['art30_disclosure_requested'] else 'no'}"
    )


def main() -> int:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(2).hex()
    base = ROOT / "var" / "demo-keys" / stamp
    print(f"PoCNet interim demo: keys in {base.relative_to(ROOT)}/\n")

    print("1. Keys")
    for party in ("FR", "DE"):
        make_party(base / party, party, now)
    fr_keys, fr_bundle = load_party(base / "FR")
    de_keys, de_bundle = load_party(base / "DE")
    for bundle in (fr_bundle, de_bundle):
        enc = bundle.current_encryption_key
        print(f"  {bundle.party}  signing {bundle.signing_key.fingerprint}")
        print(f"      encryption {enc.suite} {enc.fingerprint}")
    print("  keystores are encrypted (Argon2id) and mode 0600; bundles are public\n")

    print("2. FR seals an expedited preservation request to DE")
    body = sample_request()
    sealed = seal_at(
        now,
        signing_key=fr_keys.signing_key,
        recipient_key=de_bundle.current_encryption_key,
        sender="FR",
        recipient="DE",
        kind="preservation_request",
        body=body,
        priority="urgent",
        language="en",
        ttl=timedelta(days=7),
    )
    envelope = sealed.envelope
    wire = envelope.to_bytes()
    h = envelope.header
    print(f"  envelope     {len(wire)} bytes, sha256 {envelope.sha256[:32]}...")
    print("  the relay sees only the header:")
    print(f"    msg_id {h.msg_id}  {h.sender} -> {h.recipient}  priority {h.priority}")
    print(f"    created {h.created_at}  expires {h.expires_at}")
    print(f"    suite {h.suite}  key {h.enc_key_id}  {h.size} bytes of ciphertext")
    if b"ransomware" in wire or b"192.0.2.10" in wire:
        raise SystemExit("content is readable in the envelope")
    print("  (no word of the request is readable in the envelope)\n")

    print("3. DE opens and verifies it")
    seen: set[str] = set()
    message = open_at(
        now + timedelta(seconds=2),
        wire,
        me="DE",
        sender_keys=StaticSenderKeys({"FR": fr_bundle.signing_key}),
        decryption_keys=de_keys.decryption_keys(),
        seen=seen.__contains__,
    )
    seen.add(message.msg_id)
    if dict(message.body) != body:
        raise SystemExit("the opened request differs from the one sealed")
    print("  VERIFIED: FR's signatures (outer and inner), addressed to DE, fresh, not a replay")
    show_message(message)
    print()

    print("4. DE acknowledges receipt with a signed RETRIEVED receipt; FR verifies it")
    receipt = receipts.issue_at(
        now + timedelta(seconds=3),
        de_keys.signing_key,
        type="RETRIEVED",
        msg_id=message.msg_id,
        envelope_sha256=envelope.sha256,
        issuer="DE",
    )
    checked = receipts.verify(receipt.to_bytes(), de_bundle.signing_key).receipt
    if checked.envelope_sha256 != envelope.sha256 or checked.msg_id != h.msg_id:
        raise SystemExit("the receipt names another envelope")
    print(f"  VERIFIED: {checked.type} by {checked.issuer} at {checked.issued_at}")
    print(f"  it names envelope sha256 {checked.envelope_sha256[:32]}..., the one FR sent\n")

    print("5. What is refused")
    keys_de = de_keys.decryption_keys()
    directory = StaticSenderKeys({"FR": fr_bundle.signing_key})
    attempts = {
        "the same envelope again": wire,
        "one bit flipped in the ciphertext": _flip_ciphertext_bit(envelope.to_wire()),
    }
    for label, data in attempts.items():
        try:
            open_at(
                now,
                data,
                me="DE",
                sender_keys=directory,
                decryption_keys=keys_de,
                seen=seen.__contains__,
            )
        except Rejected as e:
            print(f"  {label:<36} rejected (operator log reason: {e.reason})")
        else:
            raise SystemExit(f"{label} was accepted")
    print("\nDemo complete: exit 0.")
    return 0


def _flip_ciphertext_bit(wire: dict[str, Any]) -> bytes:
    from keys.encoding import b64u_decode, b64u_encode, canonical

    ct = bytearray(b64u_decode(wire["ciphertext"]))
    ct[len(ct) // 2] ^= 0x01
    return canonical({**wire, "ciphertext": b64u_encode(bytes(ct))})


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PocnetError as e:
        print(f"demo failed: {e.diagnostics()}", file=sys.stderr)
        sys.exit(1)
