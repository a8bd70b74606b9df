"""The AS2 side of issue 12 row 5: a full pyas2lib message cycle, run in the AS2 venv.

Not part of the project's code: :mod:`tests.bench.bench_as2` runs this file with the
interpreter of the virtual environment it made for pyas2lib (its own dependencies,
oscrypto among them, kept apart from the project's). Standard library, ``cryptography``
(a pyas2lib dependency) and pyas2lib only.

One cycle, both sides in this process as PoCNet's is in the bench, no network:

1. sender A builds the message to B: signed (RSA-2048, SHA-256) and encrypted
   (AES-256-CBC to B's certificate), asking for a synchronous signed MDN;
2. receiver B parses it: decrypts, verifies A's signature, and builds the signed MDN;
3. A parses the MDN and verifies B's signature on it; the status must be ``processed``.

Usage: ``python as2_peer.py CYCLES ROUNDS PAYLOAD_BYTES``. Prints one JSON object:
``{"per_cycle_us": [one mean per round], "pyas2lib": version, "oscrypto": version}``.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from importlib import metadata

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyas2lib import as2

PASSWORD = b"bench"


def identity(name: str) -> tuple[bytes, bytes]:
    """A fresh RSA-2048 key and self-signed certificate: (PKCS#12 bytes, PEM certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    p12 = pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, None, serialization.BestAvailableEncryption(PASSWORD)
    )
    return p12, cert.public_bytes(serialization.Encoding.PEM)


def main(cycles: int, rounds: int, size: int) -> dict[str, object]:
    a_key, a_cert = identity("as2-a")
    b_key, b_cert = identity("as2-b")
    pw = PASSWORD.decode()
    org_a = as2.Organization("A", sign_key=a_key, sign_key_pass=pw, decrypt_key=a_key,
                             decrypt_key_pass=pw)  # fmt: skip
    org_b = as2.Organization("B", sign_key=b_key, sign_key_pass=pw, decrypt_key=b_key,
                             decrypt_key_pass=pw)  # fmt: skip
    b_at_a = as2.Partner(
        "B",
        verify_cert=b_cert,
        encrypt_cert=b_cert,
        validate_certs=False,
        sign=True,
        encrypt=True,
        enc_alg="aes_256_cbc",
        mdn_mode=as2.SYNCHRONOUS_MDN,
        mdn_digest_alg="sha256",
    )
    a_at_b = as2.Partner("A", verify_cert=a_cert, encrypt_cert=a_cert, validate_certs=False)
    payload = (b"Ransomware deployed against a regional hospital network; " * 100)[:size]
    sent: dict[str, as2.Message] = {}

    def cycle() -> None:
        out = as2.Message(org_a, b_at_a)
        out.build(payload, filename="request.json", content_type="application/json")
        sent[out.message_id] = out
        received = as2.Message()
        status, error, mdn = received.parse(
            out.headers_str + b"\r\n" + out.content,
            find_org_cb=lambda _name: org_b,
            find_partner_cb=lambda _name: a_at_b,
        )
        if status != "processed" or received.content != payload or mdn is None:
            raise SystemExit(f"AS2 message not processed: {status} {error}")
        back = as2.Mdn()
        mdn_status, detail = back.parse(
            mdn.headers_str + b"\r\n" + mdn.content,
            find_message_cb=lambda message_id, _recipient: sent.pop(message_id),
        )
        if mdn_status != "processed":
            raise SystemExit(f"AS2 MDN not processed: {mdn_status} {detail}")

    cycle()  # warm up
    means = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(cycles):
            cycle()
        means.append((time.perf_counter() - began) / cycles * 1e6)
    return {
        "per_cycle_us": means,
        "pyas2lib": metadata.version("pyas2lib"),
        "oscrypto": "elements-oscrypto " + metadata.version("elements-oscrypto")
        if _installed("elements-oscrypto")
        else "oscrypto " + metadata.version("oscrypto"),
    }


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    n, r, size = (int(v) for v in sys.argv[1:4])
    print(json.dumps(main(n, r, size)))
