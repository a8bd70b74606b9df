"""``node run``: the long-running daemon and its periodic checks.

Owns the loop that holds the long-poll, hands what arrives to the inbox and wakes the outbox
(``loop``), and the periodic checks (``watch``). May import every package of :mod:`node`
except :mod:`node.cli`.
"""
