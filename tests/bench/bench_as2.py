"""Issue 12 row 5: a full PoCNet message cycle against a full AS2 (pyas2lib) cycle.

Both cycles carry the same 4 KiB payload, both sides of each run in one process, no
network, and they are timed in interleaved rounds of the same run:

- **PoCNet** (here): FR seals the request to DE (:func:`keys.envelope.seal_at`, the default
  hybrid post-quantum suite), DE parses the wire bytes and opens them (outer and inner
  signature, decryption: :func:`keys.envelope.open_at`) and issues its ``RETRIEVED``
  receipt, FR verifies that receipt;
- **AS2** (:mod:`tests.bench.as2_peer`, in its own virtual environment): A builds a signed
  and encrypted message (RSA-2048, SHA-256, AES-256-CBC) asking for a signed MDN, B parses
  it and builds the MDN, A verifies the MDN.

The ratio is the AS2 cycle's time over PoCNet's; the goal is at least 25x.

The AS2 environment is made on first use in ``$POCNET_BENCH_CACHE`` (default
``~/.cache/pocnet-bench``)``/as2-venv`` with pip from the package index: ``pyas2lib``,
then ``elements-oscrypto`` over the ``oscrypto`` pyas2lib pulls in. ``oscrypto`` 1.3.0
(the last release) cannot read OpenSSL's version from 3.0.10 on (a two-digit patch number)
and fails to import; ``elements-oscrypto`` is a published fork with that fixed. Nothing is
patched by hand. If the environment cannot be made (no index, no such package), the row
says why and is not counted as met.

Run: ``python -m tests.bench as2``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import venv
from datetime import UTC, datetime
from pathlib import Path

from keys import receipts
from keys.envelope import Envelope, StaticSenderKeys, open_at, seal_at
from keys.identities import EncryptionPrivateKey, SigningKey
from tests.bench import scoreboard
from tests.bench.bench_envelope import BODY_BYTES, sample_body

TARGET = 25.0  # issue 12, row 5
ROUNDS = 3
AS2_CYCLES = 20
POCNET_CYCLES = 200
PACKAGES = (["pyas2lib==1.4.4"], ["--no-deps", "--force-reinstall", "elements-oscrypto==1.4.0b1"])
PEER = Path(__file__).with_name("as2_peer.py")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def as2_python() -> Path:
    """The AS2 environment's interpreter, made first if need be.

    Raises:
        RuntimeError: it cannot be made or pyas2lib does not import in it (the message
            says which step failed and how).
    """
    cache = Path(os.environ.get("POCNET_BENCH_CACHE", Path.home() / ".cache" / "pocnet-bench"))
    home = cache / "as2-venv"
    python = home / "bin" / "python"
    if not (home / ".ready").exists():
        venv.create(home, with_pip=True, clear=True)
        for args in PACKAGES:
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *args],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode != 0:
                raise RuntimeError(f"pip install {' '.join(args)}: {done.stderr.strip()[-400:]}")
        check = subprocess.run(
            [str(python), "-c", "import pyas2lib"], capture_output=True, text=True, timeout=60
        )
        if check.returncode != 0:
            raise RuntimeError(f"pyas2lib does not import: {check.stderr.strip()[-400:]}")
        (home / ".ready").write_text("pyas2lib, elements-oscrypto\n")
    return python


def as2_round(python: Path) -> tuple[float, dict[str, str]]:
    """One round of AS2 cycles in the peer: mean microseconds per cycle, versions."""
    done = subprocess.run(
        [str(python), str(PEER), str(AS2_CYCLES), "1", str(BODY_BYTES)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    out = json.loads(done.stdout)
    return float(out["per_cycle_us"][0]), {k: out[k] for k in ("pyas2lib", "oscrypto")}


def pocnet_cycle_factory() -> tuple[object, int]:
    """The PoCNet cycle as a function, and the envelope's size on the wire."""
    fr, de = SigningKey.generate(), SigningKey.generate()
    enc = EncryptionPrivateKey.generate()
    body = sample_body()
    sender_keys = StaticSenderKeys({"FR": fr.public})
    decryption = {enc.public.key_id: enc}

    def cycle() -> int:
        sealed = seal_at(
            NOW,
            signing_key=fr,
            recipient_key=enc.public,
            sender="FR",
            recipient="DE",
            kind="preservation_request",
            body=body,
        )
        wire = sealed.envelope.to_bytes()
        env = Envelope.parse(wire)
        message = open_at(NOW, env, me="DE", sender_keys=sender_keys, decryption_keys=decryption)
        retrieved = receipts.issue_at(
            NOW,
            de,
            type="RETRIEVED",
            msg_id=message.msg_id,
            envelope_sha256=env.sha256,
            issuer="DE",
        )
        got = receipts.verify(retrieved.to_bytes(), de.public)
        assert got.receipt.envelope_sha256 == env.sha256
        return len(wire)

    return cycle, cycle()


def pocnet_round(cycle: object) -> float:
    assert callable(cycle)
    began = time.perf_counter()
    for _ in range(POCNET_CYCLES):
        cycle()
    return (time.perf_counter() - began) / POCNET_CYCLES * 1e6


def main() -> None:
    try:
        python = as2_python()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"   the AS2 peer could not be built: {e}")
        scoreboard.NOT_BUILT[5] = f"the AS2 venv could not be made: {str(e)[:200]}"
        return
    cycle, size = pocnet_cycle_factory()
    as2_us: list[float] = []
    ours_us: list[float] = []
    versions: dict[str, str] = {}
    for _ in range(ROUNDS):  # interleaved
        t, versions = as2_round(python)
        as2_us.append(t)
        ours_us.append(pocnet_round(cycle))
    ratios = [a / p for a, p in zip(as2_us, ours_us, strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"   {BODY_BYTES} B payload; PoCNet envelope {size} B; pyas2lib {versions['pyas2lib']}, "
        f"{versions['oscrypto']} ({sys.version.split()[0]})"
    )
    print(
        f"   PoCNet cycle {statistics.median(ours_us):,.0f} us ({min(ours_us):,.0f}-"
        f"{max(ours_us):,.0f}); AS2 cycle {statistics.median(as2_us):,.0f} us "
        f"({min(as2_us):,.0f}-{max(as2_us):,.0f}); ratio {ratio:.1f}x "
        f"({min(ratios):.1f}-{max(ratios):.1f}), median of {ROUNDS} interleaved rounds"
    )
    scoreboard.record(
        5,
        "message + receipt cycle, both sides in one process, 4 KiB",
        ratio,
        f"{ratio:.1f}x ({min(ratios):.1f}-{max(ratios):.1f}); PoCNet "
        f"{statistics.median(ours_us):,.0f} us a cycle",
        f"pyas2lib {statistics.median(as2_us):,.0f} us a cycle",
    )


if __name__ == "__main__":
    main()
