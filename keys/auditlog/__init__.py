"""The audit log's mathematics and formats (DESIGN.md section 10), pure.

Owns the RFC 9162 Merkle tree (``merkle``), the bytes of one log entry (``entry``), signed
checkpoints in the C2SP signed-note format (``checkpoint``) and what a node checks about a
relay's log (``check``). May import the other pure modules of :mod:`keys` only: no I/O, no
``os``/``sys``, never :mod:`keys.host` or :mod:`keys.cli`.
"""
