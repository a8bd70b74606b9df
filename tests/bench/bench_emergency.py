"""An emergency queued during a relay outage: time from the relay answering again to the
sender's ``ACCEPTED`` (issue 11; goal: within 2 s, p99).

Set-up: a real ``relay serve`` and two ``node run`` daemons (FR, DE) on loopback, FR with
production-like retry settings (:data:`tests.e2e.outage.PRODUCTION_RETRY`: routine backoff
to 300 s, reconnection backoff to 30 s, emergency cap 5 s, probe 1 s). Each round stops
the relay, queues an emergency at FR with ``node send``, waits until FR's daemon has
failed 3 attempts, restarts the relay and measures until FR stores ``ACCEPTED``
(:func:`tests.e2e.outage.emergency_after_outage`). ROUNDS rounds (3 with
``POCNET_BENCH_QUICK=1``); with so few samples the p99 is the worst round.

Baseline in the same run: ``node send`` of an emergency with the relay up (seal, submit,
verify ``ACCEPTED``), p50 over the same number of sends: the floor a reconnection can
approach.

Run: ``python -m tests.bench emergency``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from tests.e2e.nodeproc import LocalNetwork, set_options
from tests.e2e.outage import GOAL_S, PRODUCTION_RETRY, accepted, emergency_after_outage

ROUNDS = 10


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    rounds = 3 if os.environ.get("POCNET_BENCH_QUICK") else ROUNDS
    with TemporaryDirectory() as tmp:
        net = LocalNetwork.create(Path(tmp), ["FR", "DE"])
        set_options(net["FR"].data / "node.toml", PRODUCTION_RETRY)
        with net.running("FR", "DE"):
            fr = net["FR"]
            baseline: list[float] = []
            for _ in range(rounds):
                started = time.monotonic()
                code, out = fr.call("send", "--to", "DE", "--kind", "ping", "--no-input",
                                    "--priority", "emergency")  # fmt: skip
                assert code == 0 and accepted(fr, out["msg_id"]), out
                baseline.append(time.monotonic() - started)
            samples = [emergency_after_outage(net, "FR", "DE")[0] for _ in range(rounds)]
    p50, p99 = pct(samples, 50), pct(samples, 99)
    print(f"  rounds: {rounds} outages (relay stopped, emergency queued, relay restarted)")
    print(f"  baseline: node send with the relay up, p50 {pct(baseline, 50) * 1000:8.0f} ms")
    print(f"  relay answering -> ACCEPTED, p50 {p50 * 1000:8.0f} ms, p99 {p99 * 1000:8.0f} ms")
    print(f"  ratio p50 to baseline: {p50 / max(pct(baseline, 50), 1e-9):.1f}x")
    verdict = "PASS" if p99 <= GOAL_S else "FAIL"
    print(f"  goal: p99 <= {GOAL_S:.0f} s: {verdict}")
