"""Settings and shared fixtures for the whole suite.

Hypothesis: no per-example deadline and no "too slow" health check. CI runs on a shared
2-core machine that may be fully loaded, where a 200 ms deadline fails a correct test; the
properties themselves are unchanged (the same number of examples, the same assertions).
"""

from hypothesis import HealthCheck, settings

settings.register_profile("pocnet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pocnet")

# Fixtures every test folder may ask for by name.
pytest_plugins = ["tests.support.pgcluster"]
