"""Figures for people: statistics and the preservation clock, as pure computations.

Owns ``stats`` (counts and times to acknowledge and respond), ``preservation`` (Art.
29(7) expiry), ``network`` (a node's signed monthly report, the secretariat's checks and
combination) and ``render_network`` (the network report's HTML, Markdown, CSV and SVG).
Functions of stored records and ``now``. May import :mod:`keys`, :mod:`node.storage`
records and :mod:`node.forms`; no aiohttp, no SQL.
"""
