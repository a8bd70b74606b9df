"""Sending and receiving: the outbox, the inbox and the duty officer's alerts.

Owns sealing and submitting with retries (``outbox``), opening, verifying and storing what
arrives and the receipts it triggers (``inbox``, with its pure triage in ``triage``), the
parts both share (``context``), alerts (``alerts``), and the one path by which the CLI and
the web console send a request or answer one (``answer``, ``acknowledge``). May import :mod:`keys`,
:mod:`node.storage`, :mod:`node.trust`, :mod:`node.relayapi`, :mod:`node.forms` and
:mod:`node.evidence`; never aiohttp directly, never :mod:`node.cli` or :mod:`node.daemon`.
"""
