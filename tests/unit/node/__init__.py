"""Unit tests of :mod:`node`, against the in-memory relay of :mod:`tests.support`."""
