"""The relay's background duties, run for the lifetime of the app.

Owns one small base for them (``base``: start, stop, run a round then sleep until a time
or a wake-up, log a failure and keep going, stop cleanly on shutdown) and the duties built
on it: the deadline task (OVERDUE notices, expiry, retention purges), the checkpoint signer
(``checkpoints``), the directory watcher (``directory``), the PostgreSQL listener
(``pglistener``) and leadership (``leader``: of several processes on one PostgreSQL, the
one holding the leader lock runs the checkpoint and deadline duties). Their SQL stays in
:mod:`relay.storage` and :mod:`relay.audit`. May import :mod:`keys`, :mod:`relay.core`,
:mod:`relay.storage`, :mod:`relay.audit` and :mod:`relay.monitoring`; never
:mod:`relay.http` or :mod:`relay.cli`.
"""
