"""The relay's background duties, run for the lifetime of the app.

Owns the deadline task (OVERDUE notices, expiry, retention purges). May import
:mod:`keys`, :mod:`relay.core`, :mod:`relay.storage`, :mod:`relay.audit` and
:mod:`relay.monitoring`; never :mod:`relay.http` or :mod:`relay.cli`.
"""
