"""RFC 9421 request signatures: the fast path against the library and the primitives.

For a request with a 4 KiB body, measures in the same run, interleaved:

- ``sign``: :func:`keys.httpsig.sign_request` (the library, the baseline),
  :func:`keys.httpsig_fast.sign_request`, and the raw primitives underneath (SHA-256 of
  the body and one Ed25519 signature over a signature base of the same size);
- ``verify``: the same three, with one Ed25519 verification.

Each figure is the median, with the spread (min-max), of :data:`RUNS` interleaved runs.
The goal (ADR 0010, not a row of issue 12's table) is that the fast path runs at no less
than half the rate of its primitives; the library's share is printed beside it.

Run: ``make bench`` or ``python -m tests.bench httpsig``.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from keys import httpsig, httpsig_fast
from keys.identities import SigningKey

RUNS = 5
ROUND_SECONDS = 0.2
GOAL_SHARE = 0.5
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
URL = "http://relay.invalid/v1/envelopes?dry_run=0"
BODY = b"x" * 4096
BASE = b"b" * 420  # about the size of a signature base


def rate(fn: Callable[[], object]) -> float:
    """Calls per second of ``fn`` over about :data:`ROUND_SECONDS`."""
    fn()
    count, started = 0, time.perf_counter()
    while True:
        for _ in range(10):
            fn()
        count += 10
        elapsed = time.perf_counter() - started
        if elapsed >= ROUND_SECONDS:
            return count / elapsed


def interleaved(fns: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Per function, the rates of :data:`RUNS` runs taken in turn with the others."""
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(RUNS):
        for name, fn in fns.items():
            rates[name].append(rate(fn))
    return rates


def _us(rates: list[float]) -> str:
    times = sorted(1e6 / r for r in rates)
    return f"{statistics.median(times):7.1f} µs ({times[0]:.1f}-{times[-1]:.1f})"


def main() -> None:
    key = SigningKey(bytes(range(32)))
    public = key.public
    crypto_public = public.crypto_key()
    directory = {"FR": public}
    headers = httpsig.sign_request("POST", URL, BODY, key=key, party="FR", now=NOW)
    window = timedelta(seconds=300)
    signature = key.sign(BASE)

    def sign_with(module: object) -> Callable[[], object]:
        sign: Callable[..., object] = module.sign_request  # type: ignore[attr-defined]
        return lambda: sign("POST", URL, BODY, key=key, party="FR", now=NOW, nonce="A" * 22)

    def verify_with(module: object) -> Callable[[], object]:
        verify: Callable[..., object] = module.verify_request  # type: ignore[attr-defined]
        return lambda: verify(
            "POST", URL, headers, BODY, lookup=directory.get, now=NOW, window=window
        )

    def raw_sign() -> object:
        hashlib.sha256(BODY).digest()
        return key.sign(BASE)

    def raw_verify() -> object:
        hashlib.sha256(BODY).digest()
        crypto_public.verify(signature, BASE)
        return None

    rates = interleaved(
        {
            "sign:library": sign_with(httpsig),
            "sign:fast": sign_with(httpsig_fast),
            "sign:primitives": raw_sign,
            "verify:library": verify_with(httpsig),
            "verify:fast": verify_with(httpsig_fast),
            "verify:primitives": raw_verify,
        }
    )
    print(f"4 KiB body, median (min-max) of {RUNS} interleaved runs")
    for op in ("sign", "verify"):
        lib, fast, raw = (rates[f"{op}:{w}"] for w in ("library", "fast", "primitives"))
        speedup = statistics.median(f / r for f, r in zip(fast, lib, strict=True))
        share = statistics.median(f / r for f, r in zip(fast, raw, strict=True))
        lib_share = statistics.median(a / r for a, r in zip(lib, raw, strict=True))
        verdict = "PASS" if share >= GOAL_SHARE else "FAIL"
        print(f"  {op:6} library    {_us(lib)}")
        print(f"  {op:6} fast       {_us(fast)}   {speedup:.1f}x the library")
        print(f"  {op:6} primitives {_us(raw)}")
        print(
            f"  {op:6} fast/primitives rate {share:.2f} (library {lib_share:.2f}); "
            f"goal >= {GOAL_SHARE}: {verdict}"
        )


if __name__ == "__main__":
    main()
