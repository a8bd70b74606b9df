"""The relay's database: engines, schema, migrations, the single writer, wake-ups.

Owns every table (``schema``), the engines and Alembic migrations (``database``,
``migrations/``), the queries of the service (``store``), the group-committing single writer
(``writer``), LISTEN/NOTIFY and in-process wake-ups (``notify``), the leader lock of
several processes (``leadership``), the installed directory rows (``directory``), and the
envelope's states and their transition table (``states``, which :mod:`relay.core` uses too).
May import :mod:`keys`, SQLAlchemy and the drivers, and the audit appender it calls inside a
transaction; never :mod:`relay.core`, :mod:`relay.http` or :mod:`relay.cli`.
"""
