"""Run a command while every core is kept busy: ``python -m tests.support.cpu_hog -- CMD``.

``make test-under-load`` runs ``make test`` this way, to show the suite does not depend on
the machine's speed (its waits are for conditions, bounded). One busy process per core
(``--workers N`` to choose), stopped when the command ends, whatever its outcome; the
command's exit code is returned.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time


def _spin() -> None:
    while True:
        sum(i * i for i in range(10_000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.cpu_hog")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.workers)]
    for hog in hogs:
        hog.start()
    started = time.monotonic()
    try:
        code = subprocess.call(command)
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.join(5)
    print(
        f"cpu_hog: {args.workers} busy workers; command exited {code} "
        f"after {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
