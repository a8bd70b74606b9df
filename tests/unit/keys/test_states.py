"""keys.states: the generic machine refuses what its table does not list."""

from __future__ import annotations

from enum import StrEnum

import pytest

from keys.errors import LocalError
from keys.states import IllegalTransition, Machine


class Light(StrEnum):
    RED = "red"
    GREEN = "green"
    AMBER = "amber"


class Other(StrEnum):
    X = "x"


LIGHT = Machine(
    name="light",
    states=Light,
    initial=Light.RED,
    table={
        Light.RED: frozenset({Light.GREEN}),
        Light.GREEN: frozenset({Light.AMBER}),
    },
)


def test_step_returns_the_target_as_a_state() -> None:
    assert LIGHT.step("red", "green") is Light.GREEN
    assert LIGHT.step(Light.GREEN, Light.AMBER) is Light.AMBER


@pytest.mark.parametrize(
    ("current", "target"),
    [
        pytest.param("red", "amber", id="skips-a-state"),
        pytest.param("amber", "red", id="from-a-final-state"),
        pytest.param("red", "red", id="self-loop-not-listed"),
        pytest.param("red", "blue", id="unknown-target"),
        pytest.param("blue", "red", id="unknown-current"),
        pytest.param("RED", "green", id="case-matters"),
    ],
)
def test_illegal_steps_are_refused_as_a_local_bug(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition) as e:
        LIGHT.step(current, target)
    assert isinstance(e.value, LocalError)
    assert e.value.fault == "local"
    assert e.value.http_status == 500
    assert e.value.code == "illegal_transition"


def test_sources_and_final() -> None:
    assert LIGHT.sources(Light.GREEN) == (Light.RED,)
    assert LIGHT.sources("amber") == (Light.GREEN,)
    with pytest.raises(IllegalTransition):
        LIGHT.sources(Light.RED)  # nothing leads back to the initial state
    assert LIGHT.final(Light.AMBER)
    assert not LIGHT.final("red")


def test_a_table_with_a_foreign_state_is_refused_at_construction() -> None:
    with pytest.raises(TypeError):
        Machine(
            name="bad",
            states=Light,
            initial=Light.RED,
            table={Light.RED: frozenset({Other.X})},  # type: ignore[arg-type]
        )
