"""Figures for people: statistics and the preservation clock, as pure computations.

Owns ``stats`` (counts and times to acknowledge and respond) and ``preservation`` (Art.
29(7) expiry). Functions of stored records and ``now``. May import :mod:`keys`,
:mod:`node.storage` records and :mod:`node.forms`; no aiohttp, no SQL.
"""
