"""``node evidence``: export a bundle (``ID --out FILE``), check one (``verify FILE``), or
write the readable report of one (``report FILE --out REPORT.pdf|.html``)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from keys.auditlog.checkpoint import origin_for
from keys.encoding import format_time, loads_strict
from keys.errors import NotFound, ValidationError
from keys.host.command import EXIT_REFUSED, emit
from keys.host.files import write_private
from node import config as node_config
from node.audit.auditor import auditor_for
from node.cli.base import data_dir, full_node, local_node, now, os_user
from node.console.evidence_report import evidence_html, evidence_pdf, evidence_view
from node.console.pdffont import find_font
from node.console.present import in_zone
from node.evidence.bundle import (
    MAX_EVIDENCE_BYTES,
    EvidenceReport,
    export_bundle,
    verify_bundle_doc,
)
from node.logs import get_logger
from node.runtime import open_local
from node.trust.keyhistory import KeyHistory


async def cmd_evidence(args: argparse.Namespace) -> int:
    if args.target[0] == "verify":
        if len(args.target) != 2:
            raise ValidationError("usage: node evidence verify FILE", code="usage")
        return await _verify(args, Path(args.target[1]))
    if args.target[0] == "report":
        if len(args.target) != 2 or args.out is None:
            raise ValidationError(
                "usage: node evidence report FILE --out REPORT.pdf|REPORT.html", code="usage"
            )
        return await _report(args, Path(args.target[1]))
    if len(args.target) != 1 or args.out is None:
        raise ValidationError("usage: node evidence ID --out FILE", code="usage")
    relay_evidence = None
    if args.fetch:
        async with full_node(args) as node:
            msg = await node.store.get_message(args.target[0])
            # Prove what can be proven now, so the bundle carries it.
            await auditor_for(node).run_once(now(), force=True, msg_id=msg.msg_id)
            relay_evidence = await node.transport.evidence(msg.msg_id)
    async with local_node(args) as node:
        msg = await node.store.get_message(args.target[0])
        doc = await export_bundle(
            node.store,
            node.peers,
            msg,
            origin=origin_for(node.config.audit.network),
            exported_at=format_time(now()),
            exported_by=node.config.party,
            relay_evidence=relay_evidence,
            with_content=args.with_content,
        )
        write_private(args.out, json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n")
        await node.store.record_access(
            action="export_content" if args.with_content else "export",
            msg_id=msg.msg_id,
            os_user=os_user(),
            now=format_time(now()),
            detail=str(args.out)[:200],
        )
    proven = len(doc["audit"]["proofs"]) if doc["audit"] else 0
    receipts = len(doc["receipts"])
    result = {
        "msg_id": msg.msg_id,
        "out": str(args.out),
        "receipts": receipts,
        "audit_proofs": proven,
        "with_content": doc["content"] is not None,
    }
    emit(
        result,
        as_json=args.json,
        text=f"evidence of {msg.msg_id} ({receipts} receipts, {proven} proven in the "
        f"relay's audit log{', with the signed content' if doc['content'] else ''}) written to "
        f"{args.out}",
    )
    return 0


async def _pinned_keys(args: argparse.Namespace) -> dict[str, KeyHistory] | None:
    """The key histories this node trusts (its directory), if a node is configured here;
    else None."""
    folder = data_dir(args)
    if not (folder / node_config.CONFIG_NAME).exists():
        return None
    cfg = node_config.load(folder)
    node = await open_local(cfg, get_logger(party=cfg.party))
    try:
        return {p: h for p in node.peers.parties() if (h := node.peers.key_history(p))}
    finally:
        await node.close()


async def _checked(args: argparse.Namespace, path: Path) -> tuple[bytes, Any, EvidenceReport]:
    """The bundle at ``path`` (its bytes, decoded) and its verification, with this node's
    pinned keys unless ``--included-keys``."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_EVIDENCE_BYTES + 1)
    except FileNotFoundError as e:
        raise NotFound(f"no evidence file at {path}", code="file_not_found", fault="local") from e
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from e
    doc = loads_strict(raw, max_bytes=MAX_EVIDENCE_BYTES)
    pinned = None if args.included_keys else await _pinned_keys(args)
    return raw, doc, verify_bundle_doc(doc, None if pinned is None else pinned.get)


async def _verify(args: argparse.Namespace, path: Path) -> int:
    _raw, _doc, report = await _checked(args, path)
    lines = [f"evidence of {report.msg_id}: {'VALID' if report.valid else 'NOT VALID'}"]
    lines += [
        f"  [{'ok' if c['ok'] else 'FAIL'}] {c['check']}"
        + (f" ({c['note']})" if c.get("note") else "")
        for c in report.checks
    ]
    lines += [f"  note: {n}" for n in report.notes]
    if report.content is not None:
        c = report.content
        lines.append(
            f"  content: {c['kind']} from {c['sender']} to {c['recipient']}, created "
            f"{c['created_at']}, {len(c['attachments'])} attachment(s); "
            "'--json' shows the whole message"
        )
    if report.directory is not None:
        lines.append(
            f"  note: the bundle's keys are those of directory version "
            f"{report.directory['version']} (payload sha256 {report.directory['payload_sha256']})"
        )
    if report.key_source == "included":
        lines.append(
            "  note: checked with the keys inside the bundle (consistency only); run it where "
            "a node has pinned the parties' keys for an independent check"
        )
    emit(report.to_dict(), as_json=args.json, text="\n".join(lines))
    return 0 if report.valid else EXIT_REFUSED


async def _report(args: argparse.Namespace, path: Path) -> int:
    """``node evidence report FILE --out OUT``: the bundle as a court reads it."""
    fmt = args.format or ("html" if args.out.suffix.lower() in (".html", ".htm") else "pdf")
    if fmt not in ("html", "pdf"):
        raise ValidationError("--format for a report is html or pdf", code="usage")
    zone = args.zone
    if zone is not None and not in_zone(now(), zone):
        raise ValidationError(f"unknown time zone {zone!r} (an IANA name)", code="bad_zone")
    raw, doc, report = await _checked(args, path)
    view = evidence_view(doc, report, raw, path.name)
    moment = now()
    if fmt == "html":
        out = evidence_html(view, zone, moment).encode("utf-8")
    else:
        out = await asyncio.to_thread(evidence_pdf, view, zone, moment, find_font())
    write_private(args.out, out)
    verdict = "VALID" if report.valid else "NOT VALID"
    result = {"msg_id": report.msg_id, "valid": report.valid, "out": str(args.out), "format": fmt}
    emit(
        result,
        as_json=args.json,
        text=f"evidence of {report.msg_id}: {verdict}; {fmt.upper()} report written to "
        f"{args.out}" + ("" if report.valid else " (it lists the failed checks)"),
    )
    return 0 if report.valid else EXIT_REFUSED
