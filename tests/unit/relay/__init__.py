"""Unit tests of :mod:`relay`, in-process (real SQLite, real aiohttp test server)."""
