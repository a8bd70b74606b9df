"""Alerts for the duty officer: a warning in the log and, if configured, a hook command.

The hook is run without a shell (``shlex.split`` of ``alerts.hook``), gets the alert as one
JSON object on stdin, and is killed after ``alerts.hook_timeout`` seconds. The alert holds
metadata only (type, a stable ``id``, message id, kind, priority, counterpart, times, phone
to call); the request's content is added only with ``alerts.include_content = true``. The
``id`` is the same each time the same thing is said (``incoming:MSGID``,
``reminder:MSGID:3``, ``relay_unreachable:SINCE:2``, ``directory_expiring:VERSION:7``), so a
hook can de-duplicate; alerts that are not about a message have empty message fields.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from node.config import AlertSettings
from node.logs import Logger
from node.storage.records import StoredMessage

ALERT_TYPES = (
    "incoming",
    "reminder",
    "not_acknowledged",
    "rejected",
    "preservation_expiring",
    "audit",
    "relay_unreachable",
    "relay_back",
    "directory_expiring",
    "directory_renewed",
    "emergency_not_delivered",
)


@dataclass(frozen=True)
class Alert:
    """Something the duty officer must see now."""

    type: str
    msg_id: str
    kind: str
    priority: str
    counterpart: str
    at: str
    detail: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] | None = None
    id: str = ""

    @property
    def alert_id(self) -> str:
        """The stable id (``TYPE:MSGID`` unless given)."""
        return self.id or f"{self.type}:{self.msg_id}"

    @classmethod
    def about(
        cls, msg: StoredMessage, type: str, at: str, detail: dict[str, Any], id: str = ""
    ) -> Alert:
        """An alert of ``type`` about a stored message, raised at ``at``."""
        return cls(
            type=type,
            msg_id=msg.msg_id,
            kind=msg.kind,
            priority=msg.priority,
            counterpart=msg.counterpart,
            at=at,
            detail=detail,
            id=id,
        )

    @classmethod
    def network(cls, type: str, at: str, id: str, detail: dict[str, Any]) -> Alert:
        """An alert about the relay or the directory, not about one message."""
        return cls(type, "", "", "urgent", "", at, detail=detail, id=id)

    def to_dict(self, *, include_content: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alert": self.type,
            "id": self.alert_id,
            "msg_id": self.msg_id,
            "kind": self.kind,
            "priority": self.priority,
            "counterpart": self.counterpart,
            "at": self.at,
            **self.detail,
        }
        if include_content and self.content is not None:
            out["content"] = self.content
        return out


class Alerter:
    """Raises alerts: one warning log line each, and the hook when one is configured."""

    def __init__(self, settings: AlertSettings, log: Logger) -> None:
        self.settings = settings
        self.log = log

    async def raise_alert(self, alert: Alert) -> None:
        self.log.warning(
            f"alert.{alert.type}",
            alert_id=alert.alert_id,
            msg_id=alert.msg_id,
            kind=alert.kind,
            priority=alert.priority,
            counterpart=alert.counterpart,
            **alert.detail,
        )
        if self.settings.hook:
            await self._run_hook(alert)

    async def _run_hook(self, alert: Alert) -> None:
        payload = json.dumps(
            alert.to_dict(include_content=self.settings.include_content), ensure_ascii=False
        ).encode("utf-8")
        argv = shlex.split(self.settings.hook)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as e:
            self.log.error("alert.hook_failed", msg_id=alert.msg_id, error=type(e).__name__)
            return
        try:
            await asyncio.wait_for(proc.communicate(payload), timeout=self.settings.hook_timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            self.log.error("alert.hook_timeout", msg_id=alert.msg_id)
            return
        if proc.returncode != 0:
            self.log.error("alert.hook_failed", msg_id=alert.msg_id, exit_code=proc.returncode)
