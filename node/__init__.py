"""The PoCNet node: one per point of contact; seals, sends, receives and verifies requests,
and tells the duty officer what needs attention (DESIGN.md section 8).

The tree, by role: :mod:`node.exchange` (outbox, inbox, alerts), :mod:`node.relayapi` (the
relay's API, the only aiohttp client), :mod:`node.trust` (directory and peers' keys),
:mod:`node.audit` (checks of the relay's log), :mod:`node.evidence` (timelines, bundles),
:mod:`node.reports` (statistics, preservation clock), :mod:`node.storage` (SQLite),
:mod:`node.forms` (the request forms, domain only), :mod:`node.daemon` (``node run``) and
:mod:`node.cli` (the ``node`` command). ``config``, ``runtime``, ``errors`` and ``logs`` at
the top are shared by all. Imports :mod:`keys`, never :mod:`relay`.
"""
