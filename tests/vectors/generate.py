"""Generate the known-answer vectors in ``tests/vectors/*.json``.

Run ``python -m tests.vectors.generate`` (``make vectors``) to write them, or
``python -m tests.vectors.generate --check`` to compare the committed files with what the
code produces now (exit status 1 and a list of the differing files if they differ).

Every key and every "random" value is fixed here. Two things cannot be fixed: HPKE
encryption draws its ephemeral key inside ``cryptography`` (no randomness can be
injected), and so does the keystore's Argon2id salt and box nonce. For those the
generator keeps the ciphertext already committed whenever it still matches every
deterministic part (same header, same message, opens with the same keys), so
regenerating does not churn the files; the tests treat those parts as verify-only.

Files:

- ``encoding.json``: RFC 8785 canonical JSON (with the RFC's own examples), strict
  decoding rejections, DSSE PAE, base64url, timestamps.
- ``identities.json``: the fixed keys, their key ids and fingerprints.
- ``envelope.json``: envelope v1 for both HPKE suites.
- ``receipts.json``: one receipt of each type.
- ``httpsig.json``: RFC 9421 request signatures with a fixed nonce and time.
- ``keystore.json``: a public bundle, an unencrypted keystore, an encrypted keystore.
- ``attachments.json``: sealed attachment chunks (:mod:`tests.vectors.gen_attachments`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keys import receipts
from keys.encoding import b64u_encode, canonical, format_time, loads_strict, pae
from keys.envelope import (
    TYPE_MESSAGE,
    Attachment,
    Envelope,
    StaticSenderKeys,
    open_at,
    outer_signed_bytes,
    seal_at,
)
from keys.errors import PocnetError
from keys.httpsig import sign_request
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle
from tests.vectors.gen_attachments import build_attachments

HERE = Path(__file__).resolve().parent
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
MSG_ID = "0195509a4c807d3a9f1e6b2c8d4e5f60"
TTL = timedelta(days=3)
PASSPHRASE = "correct horse battery staple"


def derive(label: str, length: int) -> bytes:
    """Fixed key material: SHA-512 of a label, truncated to ``length`` bytes."""
    return hashlib.sha512(f"pocnet test vector: {label}".encode()).digest()[:length]


def fixed_keys() -> dict[str, Any]:
    """The fixed keys every vector file uses."""
    return {
        "FR": SigningKey(derive("FR signing key", 32)),
        "DE": SigningKey(derive("DE signing key", 32)),
        "IT": SigningKey(derive("IT signing key", 32)),
        "relay": SigningKey(derive("relay signing key", 32)),
        "DE/x25519": EncryptionPrivateKey("x25519", derive("DE x25519 key", 32)),
        "DE/mlkem768-x25519": EncryptionPrivateKey(
            "mlkem768-x25519",
            derive("DE ML-KEM-768 seed", 64) + derive("DE X25519 part of hybrid key", 32),
        ),
        "IT/x25519": EncryptionPrivateKey("x25519", derive("IT x25519 key", 32)),
    }


def signing_entry(key: SigningKey) -> dict[str, str]:
    return {
        "seed_hex": key.seed.hex(),
        "public_hex": key.public.raw.hex(),
        "key_id": key.public.key_id,
        "fingerprint": key.public.fingerprint,
    }


def encryption_entry(key: EncryptionPrivateKey) -> dict[str, str]:
    return {
        "suite": key.suite,
        "secret_hex": key.secret.hex(),
        "public_b64u": key.public.to_b64(),
        "key_id": key.public.key_id,
        "fingerprint": key.public.fingerprint,
    }


def keys_section(names: list[str]) -> dict[str, Any]:
    keys = fixed_keys()
    out: dict[str, Any] = {}
    for name in names:
        key = keys[name]
        out[name] = signing_entry(key) if isinstance(key, SigningKey) else encryption_entry(key)
    return out


# ---------------------------------------------------------------------------------------
# encoding.json


CANONICAL_CASES: list[tuple[str, str, str]] = [
    # (name, input JSON text, expected canonical text written out by hand from RFC 8785)
    (
        "rfc8785 3.2.3: keys sorted by UTF-16 code units (the emoji sorts before U+FB33)",
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet '
        'With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": '
        '"Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}',
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O '
        'With Diaeresis","\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":'
        '"Hebrew Letter Dalet With Dagesh"}',
    ),
    (
        "rfc8785 3.2.2: numbers, string escapes and literals",
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], '
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", '
        '"literals": [null, true, false]}',
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ),
    (
        "number forms (ECMAScript Number.toString)",
        '{"n": [0, -0, -0.0, 1.0, 1E2, 1e21, 1e20, 0.1, 1e-6, 1e-7, 9007199254740991, '
        "-9007199254740991, 5e-324, 1.7976931348623157e308, 1.2345678901234568e20, "
        "0.30000000000000004]}",
        '{"n":[0,0,0,1,100,1e+21,100000000000000000000,0.1,0.000001,1e-7,9007199254740991,'
        "-9007199254740991,5e-324,1.7976931348623157e+308,123456789012345680000,"
        "0.30000000000000004]}",
    ),
    (
        "string escapes: short forms, lower-case \\u00XX below U+0020, nothing else escaped",
        '{"s": "\\u0000\\u0001\\u0008\\u0009\\u000a\\u000b\\u000c\\u000d\\u001f\\u0020'
        '\\u007f\\u0080\\u2028\\u2029\\ud83d\\ude00\\"\\\\\\/"}',
        '{"s":"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \x7f\x80\u2028\u2029\U0001f600'
        '\\"\\\\/"}',
    ),
    (
        "nesting, empty containers, literals; ASCII keys in byte order",
        '{"b": [1, {"d": true, "c": null}], "a": {}, "aa": [], "A": false, "_": "", '
        '"-": 0, "0": "zero"}',
        '{"-":0,"0":"zero","A":false,"_":"","a":{},"aa":[],"b":[1,{"c":null,"d":true}]}',
    ),
    (
        "integers beyond 2**53 - 1 are the IEEE 754 doubles they denote",
        '{"n": [9007199254740993, 12345678901234567890, -18014398509481985]}',
        '{"n":[9007199254740992,12345678901234567000,-18014398509481984]}',
    ),
    (
        "whitespace between tokens is dropped, whitespace inside strings kept",
        '{ "x" :\n\t[ 1 ,\r\n 2 ] , "y" : " a  b " }',
        '{"x":[1,2],"y":" a  b "}',
    ),
]

CANONICAL_REJECTS = [
    ("a number that overflows to infinity", '{"n": 1e400}'),
    ("a lone surrogate", '{"s": "\\ud800"}'),
]

STRICT_REJECTS: list[tuple[str, bytes, str]] = [
    ("duplicate key", b'{"a":1,"a":2}', "duplicate_key"),
    ("duplicate key in a nested object", b'{"a":{"b":1,"b":1}}', "duplicate_key"),
    ("nested 17 deep (limit 16)", b'{"a":' * 16 + b"[0]" + b"}" * 16, "too_deep"),
    ("NaN", b'{"a":NaN}', "malformed"),
    ("Infinity", b'{"a":-Infinity}', "malformed"),
    ("not an object at the top", b"[1,2]", "malformed"),
    ("invalid UTF-8", b'{"a":"\xff"}', "malformed"),
    ("trailing data", b'{"a":1} {}', "malformed"),
    ("byte order mark", b'\xef\xbb\xbf{"a":1}', "malformed"),
    ("single quotes", b"{'a':1}", "malformed"),
    ("trailing comma", b'{"a":1,}', "malformed"),
]

STRICT_ACCEPTS: list[tuple[str, bytes]] = [
    ("nested exactly 16 deep", b'{"a":' * 15 + b"[0]" + b"}" * 15),
    ("brackets inside strings do not count as nesting", b'{"a":"' + b"[{" * 40 + b'"}'),
]

PAE_CASES: list[tuple[str, str, bytes]] = [
    ("DSSE specification example", "http://example.com/HelloWorld", b"hello world"),
    ("empty body", TYPE_MESSAGE, b""),
    ("lengths count bytes, not characters", "application/vnd.pocnet.test", "€uro".encode()),
]

B64U_ENCODE: list[bytes] = [b"", b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", b"\xfb\xff"]
B64U_REJECTS = [
    ("padding", "Zg=="),
    ("standard alphabet '+'", "+_8"),
    ("standard alphabet '/'", "-/8"),
    ("non-zero padding bits (2 chars)", "Zh"),
    ("non-zero padding bits (3 chars)", "Zm9"),
    ("length 1 mod 4", "Zm9vY"),
    ("whitespace", "Zm9v Yg"),
    ("trailing newline", "Zg\n"),
    ("non-ASCII", "Zé"),
]

TIME_FORMAT = [
    ("2025-03-01T09:30:00+00:00", "2025-03-01T09:30:00.000Z"),
    ("2025-03-01T10:30:00.123456+01:00", "2025-03-01T09:30:00.123Z"),
    ("2024-12-31T23:59:59.999999-05:00", "2025-01-01T04:59:59.999Z"),
]
TIME_ACCEPTS = ["2025-03-01T09:30:00Z", "2025-03-01T09:30:00.1Z", "2025-03-01T09:30:00.123456Z"]
TIME_REJECTS = [
    "2025-03-01T09:30:00+00:00",
    "2025-03-01T09:30:00.000z",
    "2025-03-01 09:30:00.000Z",
    "2025-02-30T09:30:00.000Z",
    "2025-03-01T09:30:00.1234567Z",
    "2025-03-01T09:30:00.000Z\n",
    "\u0662\u0660\u0662\u0665-03-01T09:30:00.000Z",
]


def build_encoding() -> dict[str, Any]:
    canon = []
    for name, text, expected in CANONICAL_CASES:
        got = canonical(loads_strict(text)).decode("utf-8")
        if got != expected:
            raise SystemExit(f"canonical case {name!r}: got {got!r}, expected {expected!r}")
        canon.append({"name": name, "input": text, "canonical": expected})
    pae_cases = [
        {
            "name": name,
            "type": ptype,
            "body_hex": body.hex(),
            "pae_hex": pae(ptype, body).hex(),
        }
        for name, ptype, body in PAE_CASES
    ]
    if bytes.fromhex(pae_cases[0]["pae_hex"]) != (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    ):
        raise SystemExit("PAE of the DSSE example differs from the specification")
    return {
        "description": "Byte encodings (docs/protocol.md section 2). canonical: parse "
        "input as I-JSON (every number an IEEE 754 double), canonicalise (RFC 8785), "
        "compare with canonical (UTF-8). canonical_rejects: no canonical form. "
        "strict_rejects: the strict decoder's error code for each input (depth limit 16).",
        "canonical": canon,
        "canonical_rejects": [{"name": n, "input": t} for n, t in CANONICAL_REJECTS],
        "strict_rejects": [
            {"name": n, "input_hex": data.hex(), "code": code} for n, data, code in STRICT_REJECTS
        ],
        "strict_accepts": [{"name": n, "input_hex": data.hex()} for n, data in STRICT_ACCEPTS],
        "pae": pae_cases,
        "base64url": [{"bytes_hex": b.hex(), "text": b64u_encode(b)} for b in B64U_ENCODE],
        "base64url_rejects": [{"name": n, "text": t} for n, t in B64U_REJECTS],
        "time_format": [{"input": i, "output": o} for i, o in TIME_FORMAT],
        "time_accepts": TIME_ACCEPTS,
        "time_rejects": TIME_REJECTS,
    }


def build_identities() -> dict[str, Any]:
    return {
        "description": "Fixed test keys. key_id = kind ':' hex(SHA-256(kind || 0x00 || "
        "public))[:32], kind being 'ed25519' or the HPKE suite name; fingerprint = "
        "upper-case hex(SHA-256('pocnet-fingerprint-v1' || 0x00 || public))[:32] in "
        "groups of 4. Hybrid secret = ML-KEM-768 seed (64) || X25519 (32); hybrid public "
        "= ML-KEM-768 encapsulation key (1184) || X25519 (32).",
        "keys": keys_section(
            ["FR", "DE", "IT", "relay", "DE/x25519", "DE/mlkem768-x25519", "IT/x25519"]
        ),
    }


# ---------------------------------------------------------------------------------------
# envelope.json

BODY: dict[str, Any] = {
    "requesting_authority": {
        "organisation": "Office anti-cybercriminalité (OFAC)",
        "officer": "Capitaine A. Martin",
        "phone": "+33 1 00 00 00 00",
        "email": "pc24-7@example.fr",
        "time_zone": "Europe/Paris",
    },
    "case_reference": "FR-OFAC-2025-0042",
    "status": "new",
    "offences": ["Art. 323-1 Code pénal (unauthorised access)"],
    "summary_of_facts": "Ransomware intrusion; exfiltration to a server hosted in DE.",
    "data_to_preserve": [
        {
            "provider": "Example Hosting GmbH",
            "identifier": {"type": "ip", "value": "192.0.2.10", "port": 443},
            "from": "2025-02-27T22:00:00Z",
            "to": "2025-02-28T02:00:00Z",
            "time_zone": "UTC",
            "category": "traffic",
        }
    ],
    "mla_to_follow": True,
}
ATTACHMENT = Attachment(
    id=derive("attachment id", 16).hex(),
    name="timeline.pdf",
    media_type="application/pdf",
    size=48213,
    sha256=hashlib.sha256(b"timeline.pdf placeholder").hexdigest(),
    key=derive("attachment key", 32),
    chunk_size=1 << 20,
    chunks=1,
    digest=hashlib.sha256(b"timeline.pdf chunks placeholder").hexdigest(),
)


def seal_inputs() -> dict[str, Any]:
    return {
        "now": format_time(NOW),
        "ttl_seconds": int(TTL.total_seconds()),
        "msg_id": MSG_ID,
        "conversation_id": MSG_ID,
        "in_reply_to": None,
        "sender": "FR",
        "recipient": "DE",
        "kind": "preservation_request",
        "priority": "urgent",
        "language": "fr",
        "body": BODY,
        "attachments": [ATTACHMENT.to_dict()],
    }


def seal_fixed(suite: str) -> Any:
    keys = fixed_keys()
    return seal_at(
        NOW,
        signing_key=keys["FR"],
        recipient_key=keys[f"DE/{suite}"].public,
        sender="FR",
        recipient="DE",
        kind="preservation_request",
        body=BODY,
        priority="urgent",
        language="fr",
        attachments=(ATTACHMENT,),
        ttl=TTL,
        msg_id=MSG_ID,
    )


def _reusable_envelope(old: dict[str, Any] | None, header: str, message: bytes) -> Envelope | None:
    """The committed envelope if it still matches the deterministic parts."""
    if old is None:
        return None
    try:
        env = Envelope.parse(canonical(old["envelope"]))
        if env.header_bytes != header.encode("utf-8"):
            return None
        keys = fixed_keys()
        opened = open_at(
            NOW,
            env,
            me="DE",
            sender_keys=StaticSenderKeys({"FR": keys["FR"].public}),
            decryption_keys={k.public.key_id: k for k in (keys[f"DE/{env.header.suite}"],)},
        )
    except (PocnetError, KeyError, TypeError):
        return None
    return env if canonical(opened.to_dict()) == message else None


def build_envelope(old: dict[str, Any] | None) -> dict[str, Any]:
    keys = fixed_keys()
    old_cases = {c["suite"]: c for c in (old or {}).get("cases", [])}
    cases = []
    for suite in ("mlkem768-x25519", "x25519"):
        sealed = seal_fixed(suite)
        message = canonical(sealed.message.to_dict())
        header = sealed.envelope.header_bytes.decode("utf-8")
        reused = _reusable_envelope(old_cases.get(suite), header, message)
        env = reused if reused is not None else sealed.envelope
        inner_signed = pae(TYPE_MESSAGE, message)
        inner_sig = keys["FR"].sign(inner_signed)
        outer = outer_signed_bytes(env.header_bytes, env.ciphertext)
        cases.append(
            {
                "suite": suite,
                "recipient_enc_key_id": keys[f"DE/{suite}"].public.key_id,
                "message": message.decode("utf-8"),
                "inner_signed": inner_signed.decode("utf-8"),
                "inner_signature_b64u": b64u_encode(inner_sig),
                "plaintext_len": 64 + len(message),
                "header": header,
                "ciphertext_sha256": hashlib.sha256(env.ciphertext).hexdigest(),
                "outer_signed": outer.decode("utf-8"),
                "outer_signature_b64u": b64u_encode(env.signature),
                "envelope": env.to_wire(),
                "envelope_sha256": env.sha256,
            }
        )
    return {
        "description": "Envelope v1 (docs/protocol.md section 5). Deterministic: message, "
        "inner_signed, inner_signature, header, and outer_signed/outer_signature given the "
        "ciphertext. HPKE encryption is randomised, so the ciphertext is verify-only: "
        "opening envelope as DE at inputs.now must give message. Signing keys: FR signs; "
        "DE holds the encryption keys (identities.json).",
        "inputs": seal_inputs(),
        "keys": keys_section(["FR", "DE/mlkem768-x25519", "DE/x25519"]),
        "cases": cases,
    }


# ---------------------------------------------------------------------------------------
# receipts.json

RECEIPT_CASES: list[dict[str, Any]] = [
    {"type": "ACCEPTED", "issuer": "relay", "minutes": 0, "leaf_index": 41},
    {"type": "DELIVERED", "issuer": "relay", "minutes": 2, "leaf_index": 44},
    {"type": "RETRIEVED", "issuer": "DE", "minutes": 2},
    {"type": "ACKNOWLEDGED", "issuer": "DE", "minutes": 9},
    {"type": "REJECTED", "issuer": "DE", "minutes": 3, "reason": "inner_signature"},
    {"type": "OVERDUE", "issuer": "relay", "minutes": 60, "leaf_index": 57},
    {"type": "EXPIRED", "issuer": "relay", "minutes": 4320, "leaf_index": 90},
]
ENVELOPE_SHA256 = hashlib.sha256(b"an envelope's canonical wire bytes").hexdigest()


def build_receipts() -> dict[str, Any]:
    keys = fixed_keys()
    cases = []
    for spec in RECEIPT_CASES:
        signed = receipts.issue_at(
            NOW + timedelta(minutes=spec["minutes"]),
            keys[spec["issuer"]],
            type=spec["type"],
            msg_id=MSG_ID,
            envelope_sha256=ENVELOPE_SHA256,
            issuer=spec["issuer"],
            reason=spec.get("reason"),
            leaf_index=spec.get("leaf_index"),
        )
        cases.append(
            {
                "type": spec["type"],
                "issuer": spec["issuer"],
                "payload": signed.payload.decode("utf-8"),
                "signed": pae(receipts.TYPE_RECEIPT, signed.payload).decode("utf-8"),
                "sig_b64u": b64u_encode(signed.signature),
                "wire": signed.to_bytes().decode("utf-8"),
                "wire_sha256": signed.sha256,
            }
        )
    return {
        "description": "Receipts (docs/protocol.md section 7). Ed25519 is deterministic, so "
        "every byte is fixed. Relay receipts are signed with the 'relay' key, node receipts "
        "with the issuer's key (identities.json).",
        "keys": keys_section(["relay", "DE"]),
        "cases": cases,
    }


# ---------------------------------------------------------------------------------------
# httpsig.json

HTTPSIG_CASES: list[dict[str, Any]] = [
    {
        "name": "submit an envelope",
        "method": "POST",
        "url": "https://relay.example.net/v1/envelopes",
        "body": '{"note":"the envelope wire bytes go here"}',
        "nonce": "ZmlmdGVlbi1ieXRlLW5vbmNl",
    },
    {
        "name": "long-poll the inbox (empty body, with a query)",
        "method": "GET",
        "url": "https://relay.example.net/v1/inbox?wait=30&limit=10",
        "body": "",
        "nonce": "c2l4dGVlbi1ieXRlcy1ub25jZQ",
    },
]


def build_httpsig() -> dict[str, Any]:
    keys = fixed_keys()
    cases = []
    for spec in HTTPSIG_CASES:
        body = spec["body"].encode("utf-8")
        headers = sign_request(
            spec["method"],
            spec["url"],
            body,
            key=keys["FR"],
            party="FR",
            now=NOW,
            nonce=spec["nonce"],
        )
        headers = {k.lower(): v for k, v in headers.items()}
        params = headers["signature-input"].split("=", 1)[1]
        base = signature_base(spec["method"], spec["url"], headers["content-digest"], params)
        sig = base64.b64decode(headers["signature"].split("=:", 1)[1].rstrip(":"))
        if not keys["FR"].public.verify(sig, base.encode("ascii")):
            raise SystemExit(f"httpsig case {spec['name']!r}: the signature base does not verify")
        cases.append(
            {
                **spec,
                "party": "FR",
                "created": int(NOW.timestamp()),
                "content_digest": headers["content-digest"],
                "signature_input": headers["signature-input"],
                "signature": headers["signature"],
                "signature_base": base,
            }
        )
    return {
        "description": "RFC 9421 request signatures (docs/protocol.md section 10): label "
        "'pocnet', components @method @path @query content-digest (RFC 9530, sha-256), "
        "parameters created keyid alg nonce tag. Ed25519 over the signature base; fixed "
        "nonce and created, so every byte is fixed.",
        "keys": keys_section(["FR"]),
        "cases": cases,
    }


def signature_base(method: str, url: str, content_digest: str, params: str) -> str:
    """The RFC 9421 signature base for our covered components, built by hand."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lines = [
        f'"@method": {method.upper()}',
        f'"@path": {parts.path or "/"}',
        f'"@query": ?{parts.query}',
        f'"content-digest": {content_digest}',
        f'"@signature-params": {params}',
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# keystore.json


def build_keystore(old: dict[str, Any] | None) -> dict[str, Any]:
    keys = fixed_keys()
    fr_enc = EncryptionPrivateKey("x25519", derive("FR x25519 key", 32))
    ks = Keystore("FR", keys["FR"], (StoredEncryptionKey(fr_enc, format_time(NOW)),))
    encrypted = None
    if old is not None:
        try:
            text = old["encrypted_keystore"].encode("utf-8")
            opened = Keystore.from_bytes(text, PASSPHRASE.encode("utf-8"))
            if opened._secrets() == ks._secrets() and opened.party == ks.party:
                encrypted = text
        except (PocnetError, KeyError, AttributeError):
            encrypted = None
    if encrypted is None:
        encrypted = ks.to_bytes(PASSPHRASE.encode("utf-8"), kdf="interactive")
    return {
        "description": "Key files (docs/protocol.md section 9). bundle: FR's self-signed "
        "public bundle made at inputs.now (deterministic). unencrypted_keystore: exact "
        "bytes. encrypted_keystore: Argon2id salt and box nonce are random, so it is "
        "verify-only: it opens with passphrase to the same keys.",
        "inputs": {"now": format_time(NOW), "party": "FR", "passphrase": PASSPHRASE},
        "keys": {
            "FR": signing_entry(keys["FR"]),
            "FR/x25519": encryption_entry(ks.current_encryption_key),
        },
        "bundle": make_bundle(ks, NOW).decode("utf-8"),
        "unencrypted_keystore": ks.to_bytes(None).decode("utf-8"),
        "encrypted_keystore": encrypted.decode("utf-8"),
    }


# ---------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any] | None:
    path = HERE / name
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def build_all() -> dict[str, bytes]:
    """Every vector file's content, reusing committed ciphertexts that still match."""
    docs = {
        "encoding.json": build_encoding(),
        "identities.json": build_identities(),
        "envelope.json": build_envelope(_load("envelope.json")),
        "receipts.json": build_receipts(),
        "httpsig.json": build_httpsig(),
        "keystore.json": build_keystore(_load("keystore.json")),
        "attachments.json": build_attachments(_load("attachments.json")),
    }
    return {
        name: (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        for name, doc in docs.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    files = build_all()
    if args.check:
        stale = [
            n
            for n, data in files.items()
            if not (HERE / n).exists() or (HERE / n).read_bytes() != data
        ]
        for name in stale:
            print(f"differs: tests/vectors/{name}")
        return 1 if stale else 0
    for name, data in files.items():
        path = HERE / name
        changed = not path.exists() or path.read_bytes() != data
        path.write_bytes(data)
        print(f"{'wrote' if changed else 'unchanged'} tests/vectors/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
