"""The PoCNet relay: stores and forwards envelopes it cannot read, issues signed receipts and
keeps a tamper-evident audit log of metadata (DESIGN.md section 6).

The tree, by role: :mod:`relay.core` (the logic, no aiohttp and no SQL), :mod:`relay.http`
(the aiohttp transport), :mod:`relay.storage` (every table and statement),
:mod:`relay.audit` (the Merkle log), :mod:`relay.tasks` (background duties),
:mod:`relay.monitoring` (logs, metrics) and :mod:`relay.cli` (the ``relay`` command).
``app`` and ``config`` at the top are the composition root. Imports :mod:`keys`, never
:mod:`node`.
"""
