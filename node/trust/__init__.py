"""Whose keys this node trusts, and since when.

Owns the other parties' keys (``peers``), the secretariat's signed directory as this node
accepts it (``directory``), what a new version changes for this node (``changes``) and
signing keys over time (``keyhistory``). May import :mod:`keys`, :mod:`node.storage` and
:mod:`node.relayapi`; never :mod:`node.exchange`, :mod:`node.cli` or :mod:`node.daemon`.
"""
