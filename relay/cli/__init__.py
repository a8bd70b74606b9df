"""The ``relay`` command: init, serve, db, members, directory, logs, audit.

Owns argument parsing, the command handlers and ``relay serve``'s signal handling. May import
anything in :mod:`relay` and :mod:`keys`; nothing imports it but the console script and
``python -m relay``.
"""
