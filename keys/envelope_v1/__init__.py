"""Envelope v1 implementation; import it through :mod:`keys.envelope`.

Modules: :mod:`.model` (wire models), :mod:`.seal` (sealing), :mod:`.open` (opening).
"""
