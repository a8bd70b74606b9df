"""Who the members are, as this relay installs and serves it.

Owns the secretariat's signed directory installed in the database, its checks on install
and its pickup by running relay processes (``installed``), and the development folder of
members' bundles (``folder``). The membership questions themselves are
:mod:`relay.core.members`. May import :mod:`keys`, :mod:`relay.core`, :mod:`relay.storage`,
:mod:`relay.audit` and :mod:`relay.monitoring`; never :mod:`relay.http`, :mod:`relay.tasks`
or :mod:`relay.cli`.
"""
