"""The error root: whose fault, by class default or by the ``fault=`` keyword."""

from __future__ import annotations

import pytest

from keys.errors import (
    ConfigError,
    InvalidFile,
    NotFound,
    PeerError,
    PocnetError,
    Rejected,
    TooLarge,
    ValidationError,
)
from keys.host.command import EXIT_INVALID, EXIT_NOT_FOUND, exit_code_for


@pytest.mark.parametrize(
    ("error", "fault", "code", "status"),
    [
        pytest.param(PocnetError("x"), "local", "internal_error", 500, id="root"),
        pytest.param(ConfigError("x"), "local", "config_invalid", 500, id="config"),
        pytest.param(PeerError("x"), "peer", "bad_request", 400, id="peer"),
        pytest.param(NotFound("x"), "peer", "not_found", 404, id="not-found"),
        pytest.param(
            NotFound("x", code="message_not_found", fault="local"),
            "local",
            "message_not_found",
            404,
            id="not-found-local",
        ),
        pytest.param(
            ValidationError("x", fault="local"), "local", "invalid_field", 400, id="invalid-local"
        ),
        pytest.param(TooLarge("x", fault="local"), "local", "too_large", 413, id="too-large-local"),
        pytest.param(InvalidFile("x"), "local", "invalid_field", 400, id="invalid-file"),
        pytest.param(
            InvalidFile("x", code="too_large"), "local", "too_large", 400, id="invalid-file-code"
        ),
        pytest.param(Rejected("bad_sig"), "peer", "rejected", 400, id="rejected"),
    ],
)
def test_fault_code_and_status(error: PocnetError, fault: str, code: str, status: int) -> None:
    assert (error.fault, error.code, error.http_status) == (fault, code, status)
    who = "the remote party" if fault == "peer" else "this installation"
    assert error.diagnostics().endswith(f"(code {code}; caused by {who})")


def test_the_keyword_changes_one_error_not_its_class() -> None:
    local = NotFound("no such message", fault="local")
    assert local.fault == "local" and NotFound("x").fault == "peer" and NotFound.fault == "peer"
    assert type(local) is NotFound and local.to_wire() == {
        "error": "not_found",
        "message": "no such message",
    }


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        pytest.param(InvalidFile("x"), EXIT_INVALID, id="invalid-file"),
        pytest.param(ValidationError("x", fault="local"), EXIT_INVALID, id="invalid-local"),
        pytest.param(NotFound("x", code="file_not_found", fault="local"), EXIT_NOT_FOUND, id="nf"),
    ],
)
def test_exit_codes_follow_the_class_not_the_fault(error: PocnetError, exit_code: int) -> None:
    assert exit_code_for(error) == exit_code
