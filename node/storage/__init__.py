"""The node's database: schema, engines, the store and its frozen records.

Owns every table and SQL statement of the node: messages, receipts and rejections
(``store``), audit checkpoints and proofs (``auditstore``), the accepted directory versions
(``directorystore``), pinned keys and the access log (``registers``), and the frozen views
of rows (``records``), and the message states with their transition tables (``states``).
May import :mod:`keys` and SQLAlchemy; nothing else of :mod:`node`.
"""
