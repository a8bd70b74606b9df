"""Unit tests of :mod:`keys`, one file per module or concern."""
