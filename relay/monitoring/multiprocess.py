"""One ``/metrics`` for all the workers of ``relay serve --workers N`` (ADR 0013).

The workers share one port, so a scrape reaches one of them at random. The supervisor
makes a fresh private folder (0700) for prometheus-client's multiprocess files and names
it in ``PROMETHEUS_MULTIPROC_DIR`` before forking (:func:`metric_files`); each worker
switches its counters, histograms and per-process gauges to files in it
(:func:`join_metric_files`), and whichever worker answers a scrape sums every worker's
files (:class:`SharedCollector`), those of exited workers included, so the counters only
grow. When a worker exits the supervisor drops its live gauges (:func:`worker_exited`);
at exit it removes the folder.

A single ``relay serve`` does none of this: its metrics stay in its memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator

from prometheus_client import multiprocess, values
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client's multiprocess functions carry no annotations: hence the ignores below.


@contextlib.contextmanager
def metric_files() -> Iterator[str]:
    """The supervisor's folder for its workers' metric files: new and empty, private,
    named in ``PROMETHEUS_MULTIPROC_DIR`` for the workers, removed at exit."""
    path = tempfile.mkdtemp(prefix="pocnet-relay-metrics-")  # mode 0700
    previous = os.environ.get(ENV)
    os.environ[ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def join_metric_files() -> None:
    """In a forked worker, before its metrics are built: their values go to files in the
    folder ``PROMETHEUS_MULTIPROC_DIR`` names (prometheus-client picks its value class
    when first imported, which was in the supervisor, before the folder existed)."""
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def worker_exited(pid: int, path: str) -> None:
    """Forget the live gauges of the worker ``pid`` (its counters stay in the sums)."""
    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class SharedCollector(Collector):
    """Every worker's counters, histograms and per-process gauges, merged.

    ``keep`` filters samples by (metric name, labels): the last-poll gauge is kept to the
    current members, as a single process keeps its own.
    """

    def __init__(self, path: str, keep: Callable[[str, dict[str, str]], bool]) -> None:
        self._files = multiprocess.MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]
        self._keep = keep

    def collect(self) -> Iterator[Metric]:
        for family in self._files.collect():  # type: ignore[no-untyped-call]
            family.samples = [s for s in family.samples if self._keep(s.name, s.labels)]
            yield family
