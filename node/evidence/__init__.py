"""What happened to a message, provably: timelines and evidence bundles.

Owns the timeline of receipts and replies (``timeline``), the evidence bundle a third party
verifies offline (``bundle``) and its audit proofs (``proofs``). May import :mod:`keys`,
:mod:`node.storage`, :mod:`node.trust` and :mod:`node.relayapi`; never :mod:`node.cli` or
:mod:`node.daemon`.
"""
