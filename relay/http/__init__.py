"""The HTTP transport (aiohttp): read and authenticate, call the core, map the answer.

Owns the routes of API v1, the audit routes, ``/metrics``, the mapping of errors to HTTP
statuses and the served ``openapi.json``. Handlers parse, call :mod:`relay.core` or
:mod:`relay.audit`, and map; they hold no business rule and run no SQL. May import
:mod:`keys`, :mod:`relay.core`, :mod:`relay.audit`, :mod:`relay.storage` (for its error
types and readers) and :mod:`relay.monitoring`; never :mod:`relay.cli`.
"""
