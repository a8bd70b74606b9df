"""Catching a lying relay: the node's checks of the relay's audit log.

Owns the auditor (``auditor``), the checkpoint this node trusts and how a new one earns it
(``checkpoints``), which relay key checks a checkpoint (``relaykeys``) and what a pass
reports (``report``). The maths is :mod:`keys.auditlog`. May import :mod:`keys`,
:mod:`node.storage`, :mod:`node.relayapi` and :mod:`node.trust`; never :mod:`node.cli` or
:mod:`node.daemon`.
"""
