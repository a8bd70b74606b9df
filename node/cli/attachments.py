"""``node attachment list ID`` and ``node attachment save ID NAME --out PATH``; the
attachment lines of ``node show``."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from keys.encoding import format_time
from keys.errors import InvalidFile, NotFound
from keys.host.command import emit
from node.cli.base import local_node, now, os_user
from node.exchange.attachments import AttachmentDirs
from node.storage.attachmentstore import AttachmentRecord
from node.storage.states import AttachmentState


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def describe(record: AttachmentRecord) -> str:
    """One line for a person: name, size, type and where the file stands."""
    if record.state == AttachmentState.COMPLETE:
        where = "verified" if record.direction == "in" else "accepted by the relay"
    elif record.state == AttachmentState.REJECTED:
        where = f"REFUSED ({record.reason}): the request was rejected"
    else:
        verb = "downloaded" if record.direction == "in" else "uploaded"
        where = f"{verb} {record.done} of {record.chunks} chunks"
    return f"  {record.name}  {_size(record.size)}  {record.media_type}  {where}"


def attachment_lines(records: list[AttachmentRecord]) -> str:
    """The attachments paragraph of ``node show`` (empty without attachments)."""
    if not records:
        return ""
    return "\nattachments:\n" + "\n".join(describe(r) for r in records)


async def cmd_attachment(args: argparse.Namespace) -> int:
    async with local_node(args) as node:
        msg = await node.store.get_message(args.id)
        records = await node.store.attachments_of(msg.msg_id)
        if args.action == "list":
            emit(
                {"msg_id": msg.msg_id, "attachments": [r.to_dict() for r in records]},
                as_json=args.json,
                text=attachment_lines(records).lstrip("\n") or "no attachments",
            )
            return 0
        if not args.name or args.out is None:
            raise InvalidFile("save needs the attachment's NAME and --out PATH", code="usage")
        found = [r for r in records if args.name in (r.name, r.att_id)]
        if len(found) != 1:
            names = ", ".join(r.name for r in records) or "none"
            raise NotFound(
                f"message {msg.msg_id[:8]} has no single attachment named {args.name!r} "
                f"(its attachments: {names})",
                code="attachment_not_found",
                fault="local",
            )
        record = found[0]
        if record.direction != "in" or record.state != AttachmentState.COMPLETE:
            raise NotFound(
                f"{record.name} is not a verified received file ({describe(record).strip()})",
                code="attachment_not_ready",
                fault="local",
            )
        source = AttachmentDirs.under(node.config.data_dir).saved(msg.msg_id, record.att_id)
        out = Path(args.out)
        if out.is_dir():
            out = out / record.name
        _copy_private(source, out)
        await node.store.record_access(
            action="export", msg_id=msg.msg_id, os_user=os_user(), now=format_time(now())
        )
    result: dict[str, Any] = {"saved": str(out), "name": record.name, "size": record.size}
    emit(result, as_json=args.json, text=f"saved {record.name} ({_size(record.size)}) to {out}")
    return 0


def _copy_private(source: Path, target: Path) -> None:
    """Copy ``source`` to a new file ``target`` created 0600 (never over an existing one).

    Raises:
        InvalidFile: the target exists or cannot be written.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise InvalidFile(f"cannot write {target}: {e.strerror}") from e
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)


def add_parser(sub: Any, add: Any) -> None:
    """``node attachment``."""
    p = add(
        sub,
        "attachment",
        cmd_attachment,
        "list a message's attachments, or save a verified received one",
    )
    p.add_argument("action", choices=("list", "save"), help="list, or save one to --out")
    p.add_argument("id", metavar="ID", help="message id (or a unique prefix)")
    p.add_argument("name", nargs="?", metavar="NAME", help="save: the attachment's file name")
    p.add_argument("--out", metavar="PATH", help="save: a new file, or a folder to save it in")
