"""PoCNet core: wire formats, keys, envelopes, receipts, directory and log maths.

This package does no network or database I/O and imports neither aiohttp, sqlalchemy
nor asyncio. The relay and the node both build on it.
"""

__version__ = "0.1.0"
