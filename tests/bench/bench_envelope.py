"""Envelope seal and open against the raw chain of primitives they are built on.

For a 4 KiB request body and each HPKE suite, measures in the same run:

- ``seal``: :func:`keys.envelope.seal_at`, next to its raw chain: two Ed25519 signatures
  over bytes the size of the HPKE plaintext, plus one HPKE encryption of those bytes;
- ``open``: :func:`keys.envelope.open_at` of the wire bytes, next to its raw chain: one
  HPKE decryption plus two Ed25519 verifications over bytes of that size.

The raw chains use key objects loaded once, as a careful hand-written implementation
would. The ratio (envelope rate / raw rate) is the share of the time spent in the
cryptography itself; the goal (issue 12, row 2) is at least 0.8. Rates are the best of
several rounds, interleaved, because the machines running this are shared and noisy.

Run: ``make bench`` or ``python -m tests.bench envelope``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519

from keys.envelope import StaticSenderKeys, open_at, seal_at
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.suites import SUITES
from tests.bench import scoreboard

BODY_BYTES = 4096
TARGET_RATIO = 0.8  # issue 12, row 2
ROUNDS = 5
ROUND_SECONDS = 0.25
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def rate(fn: Callable[[], object], seconds: float = ROUND_SECONDS) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()  # warm up
    count = 0
    started = time.perf_counter()
    while True:
        for _ in range(10):
            fn()
        count += 10
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count / elapsed


def best_rates(fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best rate of each function over :data:`ROUNDS` interleaved rounds."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            best[name] = max(best[name], rate(fn))
    return best


def sample_body() -> dict[str, object]:
    """A request body whose canonical JSON is about :data:`BODY_BYTES` bytes."""
    facts = "Ransomware deployed against a regional hospital network; " * 100
    return {"summary_of_facts": facts[: BODY_BYTES - 24], "case_reference": "FR-2025-0001"}


def bench_suite(suite_name: str) -> dict[str, float]:
    """Measure one suite; return the rates and ratios."""
    suite = SUITES[suite_name]
    signer = SigningKey(bytes(range(32)))
    enc = EncryptionPrivateKey.generate(suite_name)
    recipient_key = enc.public
    body = sample_body()
    sender_keys = StaticSenderKeys({"FR": signer.public})
    decryption_keys = {recipient_key.key_id: enc}

    def do_seal() -> object:
        return seal_at(
            NOW,
            signing_key=signer,
            recipient_key=recipient_key,
            sender="FR",
            recipient="DE",
            kind="preservation_request",
            body=body,
            priority="urgent",
        )

    sealed = seal_at(
        NOW,
        signing_key=signer,
        recipient_key=recipient_key,
        sender="FR",
        recipient="DE",
        kind="preservation_request",
        body=body,
    )
    wire = sealed.envelope.to_bytes()
    plaintext_len = sealed.envelope.header.size - suite.overhead

    def do_open() -> object:
        return open_at(NOW, wire, me="DE", sender_keys=sender_keys, decryption_keys=decryption_keys)

    # The raw chain: key objects loaded once, the same sizes, nothing else.
    raw_priv = ed25519.Ed25519PrivateKey.from_private_bytes(signer.seed)
    raw_pub = raw_priv.public_key()
    hpke_suite = hpke.Suite(suite.kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    hpke_pub = suite.load_public(recipient_key.raw)
    hpke_priv = suite.load_private(enc.secret)
    data = os.urandom(plaintext_len)
    info = sealed.envelope.header_bytes
    raw_ct = hpke_suite.encrypt(data, hpke_pub, info=info)
    raw_sig = raw_priv.sign(data)

    def raw_seal() -> object:
        raw_priv.sign(data)
        raw_priv.sign(data)
        return hpke_suite.encrypt(data, hpke_pub, info=info)

    def raw_open() -> object:
        out = hpke_suite.decrypt(raw_ct, hpke_priv, info=info)
        raw_pub.verify(raw_sig, data)
        raw_pub.verify(raw_sig, data)
        return out

    rates = best_rates(
        {"seal": do_seal, "raw_seal": raw_seal, "open": do_open, "raw_open": raw_open}
    )
    print(
        f"suite {suite_name}: body {BODY_BYTES} B, HPKE plaintext {plaintext_len} B, "
        f"envelope {len(wire)} B on the wire"
    )
    for op, chain in (
        ("seal", "2 x Ed25519 sign + HPKE encrypt"),
        ("open", "HPKE decrypt + 2 x Ed25519 verify"),
    ):
        ratio = rates[op] / rates[f"raw_{op}"]
        rates[f"{op}_ratio"] = ratio
        print(
            f"  {op:<5} {rates[op]:>8,.0f}/s   raw chain ({chain}) "
            f"{rates[f'raw_{op}']:>8,.0f}/s   ratio {ratio:.2f}"
        )
        scoreboard.record(
            2,
            f"{op} {suite_name}",
            ratio,
            f"{ratio:.2f} ({rates[op]:,.0f}/s)",
            f"raw chain {rates[f'raw_{op}']:,.0f}/s",
        )
    return rates


def main() -> None:
    """Run the benchmark for both suites and print the figures."""
    below = []
    for name in ("mlkem768-x25519", "x25519"):
        rates = bench_suite(name)
        below += [f"{name} {op}" for op in ("seal", "open") if rates[f"{op}_ratio"] < TARGET_RATIO]
    if below:
        print(f"  below target: {', '.join(below)}")


if __name__ == "__main__":
    main()
