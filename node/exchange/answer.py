"""Sending a form and answering a received message: the one path that ``node send``,
``node respond`` and the web console all take, so that a reply from the browser is checked,
sealed, queued, acknowledged and logged exactly as one from the command line.

- :func:`send_form` seals ``form`` to a recipient, commits it to the outbox (nothing typed
  is lost after that), then makes one attempt to submit it; the daemon retries the rest.
- :func:`request_form` is the validation of a new request (``node send``, the console's
  "New request"): never to this node itself.
- :func:`answer_form` is the validation of an answer: only a received message is answered,
  only by a kind that answers its kind; the request's reference is carried over and the
  reply inherits the request's priority unless the form or the caller names one.
- :func:`respond` is the whole answer: :func:`answer_form`, acknowledge the request if
  nobody had, :func:`send_form` in the request's conversation, mark the request responded,
  and write the access record with the name of who answered.

Callers pass a ``validate`` (the CLI's interactive completion, or :func:`validate_form`)
and ``pause`` (the CLI's crash-test pause points); the rest is the same for everyone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from keys.encoding import format_time
from keys.errors import InvalidInput, PocnetError
from keys.identities import SigningKey
from node.exchange.acknowledge import acknowledge
from node.exchange.attachments import AttachmentDirs, seal_files
from node.exchange.outbox import Outbox
from node.forms import KINDS, FormDefaults, ValidatedForm, validate_form
from node.forms.replies import reply_priority
from node.storage.records import StoredMessage
from node.storage.store import Store

Clock = Callable[[], datetime]
Validate = Callable[..., ValidatedForm]


def _no_pause(point: str) -> None:
    return None


@dataclass(frozen=True, eq=False, repr=False)
class Sender:
    """The parts of a node that send (no ``repr``: it holds the signing key)."""

    store: Store
    outbox: Outbox
    signing_key: SigningKey
    party: str
    attachment_dirs: AttachmentDirs | None = None


@dataclass(frozen=True)
class Sent:
    """What happened to a form handed to :func:`send_form`."""

    msg_id: str
    outcome: str  # accepted | retrying (kept queued, the daemon retries) | failed
    error: PocnetError | None
    state: str
    last_error: str | None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


async def send_form(
    sender: Sender,
    recipient: str,
    form: ValidatedForm,
    clock: Clock,
    *,
    conversation_id: str | None = None,
    in_reply_to: str | None = None,
    files: Sequence[Path] = (),
    pause: Callable[[str], None] = _no_pause,
) -> Sent:
    """Seal ``files`` into the spool and ``form`` to ``recipient``, queue it, then try once
    to submit it.

    Raises:
        InvalidInput: ``files`` given to a sender without attachment folders.
    """
    # Queued due only after [outbox] send_grace_seconds: the daemon leaves it to us unless
    # we die first; an unanswered submit below sets the usual backoff instead.
    pause("started")
    if files and sender.attachment_dirs is None:
        raise InvalidInput("this sender cannot attach files", code="no_attachments")
    sealed = seal_files(files, sender.attachment_dirs) if files and sender.attachment_dirs else ()
    msg = await sender.outbox.queue(
        recipient,
        form,
        clock(),
        conversation_id=conversation_id,
        in_reply_to=in_reply_to,
        attachments=sealed,
    )
    pause("queued")
    outcome, error = await sender.outbox.submit_explained(msg, clock())
    pause("submitted")
    stored = await sender.store.get_message(msg.msg_id)
    return Sent(msg.msg_id, outcome, error, stored.state, stored.last_error)


def request_form(
    own_party: str,
    recipient: str,
    kind: str,
    data: dict[str, Any],
    *,
    now: datetime,
    priority: str | None = None,
    validate: Validate = validate_form,
    defaults: FormDefaults | None = None,
) -> ValidatedForm:
    """``data`` validated as a new ``kind`` request to ``recipient`` (``node send``).

    Raises:
        InvalidInput: addressed to this node itself.
        FormInvalid: the form's problems, each with its field.
    """
    if recipient == own_party:
        raise InvalidInput("you cannot send a request to yourself", code="self_recipient")
    return validate(kind, data, now=now, priority=priority, defaults=defaults)


def answerable(original_kind: str, direction: str, reply_kind: str) -> InvalidInput | None:
    """Why ``reply_kind`` cannot answer a message, or None: only a message this node
    received can be answered, and only by a kind that answers its kind (its form lists the
    kinds it answers, ``*`` for any)."""
    if direction != "in":
        return InvalidInput(
            "this is a message you sent, not one you received: only received messages can "
            "be answered (to add to your own request, use 'node send' with its reference)",
            code="not_received",
        )
    spec = KINDS.get(reply_kind)
    answers = spec.answers if spec is not None else ()
    if "*" in answers or original_kind in answers:
        return None
    fitting = sorted(k for k, s in KINDS.items() if original_kind in s.answers or "*" in s.answers)
    return InvalidInput(
        f"a {reply_kind} does not answer a {original_kind}; kinds that do: {', '.join(fitting)}",
        code="reply_kind_mismatch",
    )


def answer_form(
    original: StoredMessage,
    kind: str,
    data: dict[str, Any],
    *,
    now: datetime,
    priority: str | None = None,
    validate: Validate = validate_form,
    defaults: FormDefaults | None = None,
) -> ValidatedForm:
    """``data`` validated as a ``kind`` answering ``original``.

    Raises:
        InvalidInput: ``original`` cannot be answered by a ``kind``.
        FormInvalid: the form's problems, each with its field.
    """
    refusal = answerable(original.kind, original.direction, kind)
    if refusal is not None:
        raise refusal
    data = dict(data)
    reference = original.body.get("reference")
    if isinstance(reference, str) and not data.get("request_reference"):
        data["request_reference"] = reference
    # A reply inherits the request's priority unless the caller or the form says.
    inherited = None if data.get("urgency") else reply_priority(kind, original.priority)
    return validate(
        kind,
        data,
        now=now,
        request_time=original.created_at,
        priority=priority or inherited,
        defaults=defaults,
    )


async def respond(
    sender: Sender,
    original: StoredMessage,
    kind: str,
    data: dict[str, Any],
    *,
    who: str,
    clock: Clock,
    priority: str | None = None,
    validate: Validate = validate_form,
    before_send: Callable[[str], Awaitable[None]] | None = None,
    pause: Callable[[str], None] = _no_pause,
    defaults: FormDefaults | None = None,
    files: Sequence[Path] = (),
) -> tuple[ValidatedForm, Sent]:
    """Answer ``original`` with ``data`` as a ``kind``; ``who`` goes in the access log.
    ``before_send(recipient)`` runs after validation (the CLI makes sure it knows the
    recipient's key there).

    Raises:
        InvalidInput: ``original`` cannot be answered by a ``kind``.
        FormInvalid: the form's problems; nothing is acknowledged, queued or logged.
    """
    form = answer_form(
        original, kind, data, now=clock(), priority=priority, validate=validate, defaults=defaults
    )
    if before_send is not None:
        await before_send(original.counterpart)
    if original.acknowledged_at is None:
        await acknowledge(
            sender.store, sender.outbox, sender.signing_key, sender.party,
            original.msg_id, original.envelope_sha256, who=who, now=clock(), later=clock(),
        )  # fmt: skip
    sent = await send_form(
        sender,
        original.counterpart,
        form,
        clock,
        conversation_id=original.conversation_id,
        in_reply_to=original.msg_id,
        files=files,
        pause=pause,
    )
    if sent.ok:
        await sender.store.mark_responded(original.msg_id)
        await sender.store.record_access(
            action="answer",
            msg_id=original.msg_id,
            os_user=who[:64],
            now=format_time(clock()),
            detail=f"{form.kind} {sent.msg_id}",
        )
    return form, sent
