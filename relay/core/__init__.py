"""The relay's logic: what may be stored, what each step issues, who may see what.

Owns the service (submit, inbox, receipts, evidence), request authentication and rate
limits (``auth``), the integrity check of stored envelopes (``integrity``) and who the
members are (``members``, ``members_directory``), and the pure decisions the service takes:
which node receipts to store (``node_receipts``) and how long an inbox poll waits
(``longpoll``). Time is passed in. May import
:mod:`keys`, the storage interface (:mod:`relay.storage` stores and writer), the audit
appender and :mod:`relay.monitoring`; never aiohttp, SQLAlchemy or a database driver, and
never :mod:`relay.http`, :mod:`relay.cli` or :mod:`relay.tasks`.
"""
