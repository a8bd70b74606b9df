"""Settings and shared fixtures for the whole suite.

Hypothesis: no per-example deadline and no "too slow" health check. CI runs on a shared
2-core machine that may be fully loaded, where a 200 ms deadline fails a correct test; the
properties themselves are unchanged (the same number of examples, the same assertions).

pytest-xdist (``make test``, ``--dist loadgroup``): the tests of a module that defines a
module-scoped fixture (a running network of relay and nodes, a browser) run on one
worker, one after the other, as if the module were marked ``xdist_group``: the fixture
is built once, and tests that build on each other's state keep their order.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("pocnet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pocnet")

# Fixtures every test folder may ask for by name.
pytest_plugins = ["tests.support.pgcluster"]


def _shares_a_module_fixture(item: Any) -> bool:
    """``item`` uses a module-scoped fixture defined in its own module."""
    module = item.nodeid.split("::", 1)[0]
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(d.scope == "module" and d.baseid == module for chain in defs.values() for d in chain)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
