"""The node's side of the relay API v1, behind one interface.

Owns the HTTP client with signed requests (``transport``) and the validation of the relay's
audit answers at the boundary (``auditwire``). The only package of :mod:`node` that imports
aiohttp. May import :mod:`keys`; nothing else of :mod:`node`.
"""
