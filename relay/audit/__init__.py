"""The relay's audit log: appends, proofs, signed checkpoints, verification.

Owns the append hook every event goes through in the writer's transaction (``append``), the
read side: inclusion and consistency proofs and evidence (``proofs``), when and how the relay
signs checkpoints (``checkpoints``) and the full recomputation of ``relay audit verify``
(``verify``). The maths is :mod:`keys.auditlog`. May import :mod:`keys`,
:mod:`relay.storage` and :mod:`relay.monitoring`; never :mod:`relay.http`,
:mod:`relay.core` or :mod:`relay.cli`.
"""
