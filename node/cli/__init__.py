"""The ``node`` command: the duty officer's tool.

Owns argument parsing and the command handlers, grouped by what the officer is doing
(setup, sending, working, directory, reports, audit, rotation), plus reading a form from a
file (``formfile``) or a terminal (``interactive``). May import anything in :mod:`node` and
:mod:`keys`; nothing imports it but the console script and ``python -m node``.
"""
