"""The relay's audit answers at the node's boundary: shapes accepted and refused, and the
HTTP transport's three audit calls (signed, parsed, errors wrapped)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from keys.encoding import b64u_encode
from keys.errors import NotFound, PeerError
from keys.identities import SigningKey
from node.relayapi import auditwire
from node.relayapi.transport import HttpRelayTransport
from tests.support.scripted_relay import ScriptedRelay, serving

KEY = SigningKey.generate()
H = b64u_encode(b"\x07" * 32)
ENTRY = b64u_encode(b'{"time":"2025-03-01T12:00:00.000Z","type":"accepted"}')


# -- shapes ----------------------------------------------------------------------------------

GOOD_PROOF = {"leaf_index": 2, "entry": ENTRY, "hashes": [H, H]}
BAD_EVIDENCE = {
    "proofs not a list": {"checkpoint": "x\n", "proofs": {}},
    "no checkpoint with proofs": {"proofs": [GOOD_PROOF]},
    "a proof with an extra key": {"checkpoint": "x\n", "proofs": [{**GOOD_PROOF, "x": 1}]},
    "a negative leaf": {"checkpoint": "x\n", "proofs": [{**GOOD_PROOF, "leaf_index": -1}]},
    "a leaf that is a bool": {"checkpoint": "x\n", "proofs": [{**GOOD_PROOF, "leaf_index": True}]},
    "a short hash": {"checkpoint": "x\n", "proofs": [{**GOOD_PROOF, "hashes": [H[:-2]]}]},
    "a padded hash": {"checkpoint": "x\n", "proofs": [{**GOOD_PROOF, "hashes": [H + "="]}]},
    "too many hashes": {"checkpoint": "x\n", "proofs": [{**GOOD_PROOF, "hashes": [H] * 127}]},
    "an entry over 1024 bytes": {
        "checkpoint": "x\n",
        "proofs": [{**GOOD_PROOF, "entry": b64u_encode(b"x" * 1025)}],
    },
    "a note over 64 KiB": {"checkpoint": "x" * 65537, "proofs": []},
    "too many proofs": {"checkpoint": "x\n", "proofs": [GOOD_PROOF] * 257},
}


def test_evidence_audit_part_accepted() -> None:
    note, proofs = auditwire.evidence_audit({"checkpoint": "note\n", "proofs": [GOOD_PROOF]})
    assert note == b"note\n"
    assert proofs == [auditwire.LeafProof(2, proofs[0].entry, (b"\x07" * 32,) * 2)]
    assert proofs[0].to_wire() == GOOD_PROOF
    assert auditwire.evidence_audit({"msg_id": "x"}) == (None, [])


@pytest.mark.parametrize("case", sorted(BAD_EVIDENCE))
def test_evidence_audit_part_refused(case: str) -> None:
    with pytest.raises(PeerError) as e:
        auditwire.evidence_audit(BAD_EVIDENCE[case])
    assert e.value.code == "audit_answer_malformed"


@pytest.mark.parametrize(
    ("doc", "ok"),
    [
        ({"old_size": 3, "new_size": 7, "hashes": [H]}, True),
        ({"old_size": 3, "new_size": 8, "hashes": [H]}, False),  # not the sizes asked
        ({"old_size": "3", "new_size": 7, "hashes": [H]}, False),
        ({"old_size": 3, "new_size": 7, "hashes": "H"}, False),
        ({"old_size": 3, "new_size": 7}, False),
    ],
)
def test_consistency_answer(doc: dict[str, Any], ok: bool) -> None:
    if ok:
        assert auditwire.consistency_answer(doc, 3, 7) == (b"\x07" * 32,)
    else:
        with pytest.raises(PeerError):
            auditwire.consistency_answer(doc, 3, 7)


# -- the HTTP transport ------------------------------------------------------------------------


@pytest.fixture
async def relay() -> AsyncIterator[tuple[ScriptedRelay, HttpRelayTransport]]:
    scripted = ScriptedRelay(KEY)
    async with serving(scripted) as url:
        client = HttpRelayTransport(
            url, party="FR", signing_key=KEY, clock=lambda: datetime.now(UTC)
        )
        yield scripted, client
        await client.close()


async def test_transport_audit_calls(relay: tuple[ScriptedRelay, HttpRelayTransport]) -> None:
    scripted, client = relay
    scripted.answer = (200, {"checkpoint": "pocnet.relay/x\n"})
    assert await client.audit_checkpoint() == b"pocnet.relay/x\n"
    scripted.answer = (200, {"old_size": 4, "new_size": 9, "hashes": [H, H]})
    assert await client.audit_consistency(4, 9) == (b"\x07" * 32,) * 2
    scripted.answer = (200, {"leaf_index": 1, "tree_size": 9, "hashes": [H]})
    assert await client.audit_inclusion(1, 9) == (b"\x07" * 32,)
    assert scripted.paths == [
        "/v1/audit/checkpoint",
        "/v1/audit/proofs/consistency?from=4&to=9",
        "/v1/audit/proofs/inclusion?index=1&size=9",
    ]


async def test_transport_audit_errors(relay: tuple[ScriptedRelay, HttpRelayTransport]) -> None:
    scripted, client = relay
    scripted.answer = (404, {"error": "not_found", "message": "the audit log has 3 entries"})
    with pytest.raises(NotFound):
        await client.audit_consistency(3, 9)
    scripted.answer = (200, {"leaf_index": 2, "tree_size": 9, "hashes": [H]})
    with pytest.raises(PeerError):  # an answer about another leaf
        await client.audit_inclusion(1, 9)
    scripted.answer = (200, {"checkpoint": 5})
    with pytest.raises(PeerError):
        await client.audit_checkpoint()
