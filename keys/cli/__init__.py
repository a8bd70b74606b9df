"""The ``keys`` command: the secretariat's and every party's key tooling.

Owns argument parsing and the command handlers: ``main`` (generate, show, verify-bundle)
and ``directory`` (the signed directory: init, edit, sign, combine, verify, show, diff).
May import anything in :mod:`keys`, including :mod:`keys.host`; nothing imports it but the
console script and ``python -m keys``.
"""
