"""Node-specific refinements of the errors in :mod:`keys.errors` (still one root).

The classes here only change whose fault an error is: a message id typed wrong, a party
the directory does not list, a form file that is missing: all are fixed at this node.
"""

from __future__ import annotations

from keys.errors import NotFound


class LocalNotFound(NotFound):
    """Something asked for at this node does not exist (a message, a party, a file)."""

    fault = "local"
