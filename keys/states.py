"""State machines as data: an enum of states, a table of legal moves, one function to apply.

As h11's ``_state.py``: a :class:`Machine` holds the states of one thing (the relay's
envelope, the node's outgoing or incoming message) and the table of the transitions it may
make. :meth:`Machine.step` applies a transition and refuses any other with
:class:`IllegalTransition`: asking for one is a bug in this installation, never a peer's
doing. :meth:`Machine.sources` gives the states from which a target may be reached, for the
``WHERE state IN (...)`` guard of the SQL that stores it, so the database applies only what
the table allows and a concurrent change loses the race instead of being overwritten.

The machines themselves live with their stores (:mod:`relay.storage.states`,
:mod:`node.storage.states`); this module is pure and does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from keys.errors import LocalError

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(LocalError):
    """A state change the machine's table does not allow: a bug here, not a peer's fault."""

    code = "illegal_transition"


@dataclass(frozen=True)
class Machine(Generic[S]):
    """The states of one thing and its legal transitions.

    Attributes:
        name: what moves through the states (for messages: ``envelope``, ``outbox``).
        states: the enum of its states.
        initial: the state a new one is stored in.
        table: each state's legal next states (a state missing from the table is final).
    """

    name: str
    states: type[S]
    initial: S
    table: Mapping[S, frozenset[S]]

    def __post_init__(self) -> None:
        for current, targets in self.table.items():
            for state in (current, *targets):
                if not isinstance(state, self.states):
                    raise TypeError(f"{self.name}: {state!r} is not a {self.states.__name__}")

    def legal(self, current: S, target: S) -> bool:
        """Whether ``current`` may move to ``target``."""
        return target in self.table.get(current, frozenset())

    def step(self, current: S | str, target: S | str) -> S:
        """Apply one transition: return ``target`` as a state, or refuse it.

        Raises:
            IllegalTransition: either value is not a state of this machine, or the table
                does not allow the move.
        """
        now, then = self.parse(current), self.parse(target)
        if not self.legal(now, then):
            raise IllegalTransition(f"{self.name}: no transition from {now} to {then}")
        return then

    def sources(self, target: S | str) -> tuple[S, ...]:
        """Every state from which ``target`` may be reached, in the enum's order.

        Raises:
            IllegalTransition: ``target`` is not a state, or no state leads to it.
        """
        then = self.parse(target)
        found = tuple(s for s in self.states if self.legal(s, then))
        if not found:
            raise IllegalTransition(f"{self.name}: nothing moves to {then}")
        return found

    def final(self, state: S | str) -> bool:
        """Whether ``state`` has no way out."""
        return not self.table.get(self.parse(state))

    def parse(self, value: S | str) -> S:
        """``value`` as a state of this machine (a stored string, or a state already).

        Raises:
            IllegalTransition: ``value`` is not one of its states.
        """
        try:
            return self.states(value)
        except ValueError:
            raise IllegalTransition(f"{self.name}: {value!r} is not a state") from None


__all__ = ["IllegalTransition", "Machine"]
