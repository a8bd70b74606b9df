"""schemathesis against a real ``relay serve``, through a signing proxy.

Every operation of ``/v1/openapi.json`` gets generated requests, valid ones (which the
proxy signs as member FR, so they pass authentication and reach the handlers) and invalid
ones (a wrong type, a missing field, a value out of the schema's bounds). Each answer must
be no server error (503 alone is allowed, and only if documented), a status, content type,
headers and body that the document declares.

Bounded for CI: ``POCNET_SCHEMATHESIS_EXAMPLES`` examples per operation and mode (default
25). The longer run, documented in docs/reliability.md::

    POCNET_SCHEMATHESIS_EXAMPLES=1000 .venv/bin/python -m pytest -q -s \\
        tests/integration/test_relay_schemathesis.py
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.relaykit import make_member, seal
from tests.integration.relayproc import RelayProcess
from tests.support.signing_proxy import running_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
EXAMPLES = int(os.environ.get("POCNET_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def proxied_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A relay with members FR and DE (FR has sent DE an envelope), behind a proxy
    that signs as FR; the proxy's URL."""
    data: Path = tmp_path_factory.mktemp("schemathesis") / "relay"
    relay = RelayProcess.create(
        data,
        env={"POCNET_RELAY_RATE_PER_SECOND": "100000", "POCNET_RELAY_RATE_BURST": "100000"},
    )
    fr, de = make_member("FR"), make_member("DE")
    for member in (fr, de):
        relay.add_member(member.bundle)
    with relay.running(), running_proxy(relay.url, "FR", fr.key) as url:
        env = seal(
            fr, de, datetime.now(UTC)
        )  # something in the log, for the proofs and the evidence
        answer = requests.post(url + "/v1/envelopes", data=env.to_bytes(), timeout=60)
        assert answer.status_code == 201, answer.text
        yield url


def _operations(url: str) -> list[Any]:
    """Every operation of the document the relay serves, sent to ``url``."""
    document = requests.get(url + "/v1/openapi.json", timeout=60).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=url)
    operations = [result.ok() for result in schema.get_all_operations()]
    declared = sum(len(ops) for ops in document["paths"].values())
    assert len(operations) == declared >= 13, "an operation is missing"
    return operations


def _has_inputs(operation: Any) -> bool:
    """The operation takes a body, a query or a path parameter."""
    return any(len(c) for c in (operation.body, operation.query, operation.path_parameters))


def _fuzz(operation: Any, mode: Any, session: requests.Session, seen: Counter[Any]) -> None:
    """``EXAMPLES`` generated requests of ``mode`` to ``operation``, each answer checked."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        response = case.call(session=session, timeout=60)
        seen[(operation.label, response.status_code)] += 1
        assert response.status_code < 500 or response.status_code == 503, (
            f"{operation.label}: {response.status_code} {response.text[:500]}"
        )
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_and_no_server_error(proxied_relay: str, mode: Any) -> None:
    statuses: Counter[tuple[str, int]] = Counter()
    with requests.Session() as session:
        for operation in _operations(proxied_relay):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue  # nothing to make invalid
            _fuzz(operation, mode, session, statuses)
    server_errors = {k: n for k, n in statuses.items() if k[1] >= 500}
    print(
        f"SCHEMATHESIS mode={mode.value} requests={sum(statuses.values())} "
        f"server_errors={server_errors} statuses={dict(sorted(statuses.items()))}"
    )
    assert not server_errors
