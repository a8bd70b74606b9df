"""``make bench``: run every ``tests/bench/bench_*.py`` module's ``main()`` in turn.

Each benchmark prints its figures next to a baseline measured in the same run, as ratios
(the machines are shared and noisy, so absolute numbers alone mean little). At the end it
prints the table of goals (:mod:`tests.bench.scoreboard`): every row with its figures from
this run and PASS/FAIL against the goal, or why it was not measured.
Run one with ``python -m tests.bench NAME`` (e.g. ``envelope``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.bench as pkg
from tests.bench import scoreboard


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_")
    )
    if argv:
        names = [n for n in names if n.removeprefix("bench_") in argv or n in argv]
    failed = 0
    for name in names:
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"tests.bench.{name}")
        try:
            module.main()
        except Exception as e:  # report and go on with the next benchmark
            failed += 1
            print(f"!! {name} failed: {type(e).__name__}: {e}", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    print("== the table of goals (issues 12 and 16) ==")
    for line in scoreboard.summary():
        print("   " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
