"""The one form validator: walks a kind's field table and reports every problem at once.

:func:`validate_form` returns a :class:`ValidatedForm` (the normalised body: an older form
version migrated (:mod:`node.forms.migrate`), empty optional fields dropped, defaults
written in, ``urgency`` set to the priority, ``form_version`` set) or raises
:class:`FormInvalid` listing what is missing or wrong, field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keys.errors import ValidationError
from node.forms import values
from node.forms.migrate import FORM_VERSION, form_version, migrate
from node.forms.registry import KINDS, fields_for
from node.forms.spec import Field, KindSpec

PRIORITIES = ("routine", "urgent", "emergency")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a form: where (a dotted path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class FormInvalid(ValidationError):
    """A form is incomplete or wrong; ``problems`` lists every problem, field by field."""

    code = "form_invalid"
    fault = "input"  # the officer's form: "caused by your input"

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the {kind} form is not valid ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n{lines}\n"
            f"fix these fields and send again ('node forms {kind}' prints a template, "
            f"'node forms {kind} --describe' explains each field)"
        )
        self.kind = kind
        self.problems = problems


@dataclass(frozen=True)
class FormDefaults:
    """Values a node fills in when the form leaves them out (from ``node.toml``)."""

    language: str = "en"
    authority: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidatedForm:
    """A form that passed validation."""

    kind: str
    body: dict[str, Any]
    priority: str
    language: str


def is_empty(value: Any) -> bool:
    """Absent for the validator: None, an empty string, or a list or object holding only
    empty values (so an untouched template entry counts as absent)."""
    if value is None or value == "":
        return True
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(is_empty(v) for v in value)
    return False


def unknown_kind(kind: str) -> ValidationError:
    """A message kind this node does not know (the operator's to fix)."""
    return ValidationError(
        f"unknown kind {kind[:48]!r}: 'node forms' lists the kinds",
        code="unknown_kind",
        fault="local",
    )


def get_kind(kind: str) -> KindSpec:
    """The spec of ``kind``.

    Raises:
        ValidationError: no such kind.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise unknown_kind(kind)
    return spec


_SCALAR_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "date": values.check_date,
    "datetime": values.check_datetime,
    "time_zone": values.check_time_zone,
    "email": values.check_email,
    "phone": values.check_phone,
    "language": values.check_language,
    "ip_address": values.check_ip_address,
    "port": values.check_port,
    "count": values.check_count,
    "month": values.check_month,
}


class _Walker:
    def __init__(self, request_time: datetime, now: datetime) -> None:
        self.request_time = request_time
        self.now = now
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path or "(form)", message))

    def object(self, fields: tuple[Field, ...], data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.add(path, "must be an object")
            return {}
        known = {f.name for f in fields}
        for key in data:
            if key not in known:
                self.add(_join(path, str(key)[:64]), "unknown field (check the spelling)")
        out: dict[str, Any] = {}
        for f in fields:
            value = data.get(f.name)
            where = _join(path, f.name)
            if is_empty(value):
                if _required(f, data):
                    self.add(where, f"missing ({f.help})" if f.help else "missing")
                elif f.default is not None:
                    out[f.name] = f.default
                elif f.default_today:
                    out[f.name] = today_in(self.now, data.get("requesting_authority"))
                continue
            checked = self.value(f, value, where)
            if checked is not None:
                out[f.name] = checked
        return out

    def value(self, f: Field, value: Any, path: str) -> Any:
        t = f.type
        if t in ("line", "text"):
            return self._scalar(
                path, value, values.check_text(value, f.limit, one_line=t == "line")
            )
        if t == "bool":
            if not isinstance(value, bool):
                return self._scalar(path, value, "must be true or false")
            if f.must_be_true and value is not True:
                return self._scalar(path, value, f"must be true: {f.help}")
            return value
        if t == "choice":
            ok = isinstance(value, str) and value in f.choices
            return self._scalar(
                path, value, None if ok else f"must be one of {', '.join(f.choices)}"
            )
        if t in _SCALAR_CHECKS:
            problem = _SCALAR_CHECKS[t](value)
            if problem is None and f.min_days_after_request is not None:
                problem = self._min_days(f, value)
            return self._scalar(path, value, problem)
        if t == "window":
            for sub, message in values.window_problems(value):
                self.add(path + sub, message)
            return (
                {k: v for k, v in value.items() if not is_empty(v)}
                if isinstance(value, dict)
                else None
            )
        if t == "object":
            return self.object(f.fields, value, path)
        return self._list(f, value, path)

    def _list(self, f: Field, value: Any, path: str) -> list[Any] | None:
        assert f.item is not None
        if not isinstance(value, list):
            self.add(path, "must be a list")
            return None
        if len(value) > f.max_items:
            self.add(path, f"has {len(value)} entries; at most {f.max_items}")
            return None
        if len(value) < f.min_items:
            self.add(path, f"needs at least {f.min_items} entr{'y' if f.min_items == 1 else 'ies'}")
        out = []
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if is_empty(item):
                self.add(where, "empty entry")
                continue
            out.append(self.value(f.item, item, where))
        return out

    def _scalar(self, path: str, value: Any, problem: str | None) -> Any:
        if problem is not None:
            self.add(path, problem)
            return None
        return value

    def _min_days(self, f: Field, value: str) -> str | None:
        assert f.min_days_after_request is not None
        days = values.days_between(value, self.request_time)
        if days < f.min_days_after_request:
            return (
                f"is {days} days after the request ({self.request_time.date().isoformat()}); "
                f"it must be at least {f.min_days_after_request} days (Art. 29(7))"
            )
        return None


def today_in(now: datetime, authority: Any) -> str:
    """Today's date at ``now`` in the authority's time zone (UTC when it names none)."""
    zone = authority.get("time_zone") if isinstance(authority, dict) else None
    tz = values.parse_zone(zone) if isinstance(zone, str) and len(zone) <= 64 else None
    return now.astimezone(tz or UTC).date().isoformat()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _required(f: Field, siblings: Mapping[str, Any]) -> bool:
    if f.required:
        return True
    return any(siblings.get(other) in wanted for other, wanted in f.required_when)


def _with_defaults(data: Mapping[str, Any], defaults: FormDefaults) -> dict[str, Any]:
    out = dict(data)
    if defaults.authority:
        given = out.get("requesting_authority")
        if is_empty(given) or isinstance(given, dict):
            merged = dict(defaults.authority)
            merged.update({k: v for k, v in (given or {}).items() if not is_empty(v)})
            out["requesting_authority"] = merged
    if is_empty(out.get("language")):
        out["language"] = defaults.language
    return out


def validate_form(
    kind: str,
    data: Any,
    *,
    now: datetime,
    request_time: datetime | None = None,
    priority: str | None = None,
    defaults: FormDefaults | None = None,
) -> ValidatedForm:
    """Validate a form of ``kind``.

    Args:
        now: the time of sending (a preservation answered now is judged from it unless
            ``request_time`` is given).
        request_time: when the request this form answers was made.
        priority: the priority asked on the command line (``--priority``), if any.
        defaults: values filled in from the node's configuration.

    Raises:
        ValidationError: ``kind`` is unknown.
        FormInvalid: anything is missing or wrong; every problem is listed.
    """
    spec = get_kind(kind)
    walker = _Walker(request_time or now, now)
    if not isinstance(data, dict):
        raise FormInvalid(kind, [Problem("(form)", "must be a JSON object")])
    version = form_version(data)
    if version is None or version > FORM_VERSION:
        raise FormInvalid(
            kind,
            [Problem("form_version", f"must be a form version up to {FORM_VERSION}")],
        )
    data = migrate(kind, data)
    data.pop("form_version", None)
    data = _with_defaults(data, defaults or FormDefaults())
    body = walker.object(fields_for(spec), data, "")
    urgency = data.get("urgency")
    if priority is not None and priority not in PRIORITIES:
        walker.add("--priority", f"must be one of {', '.join(PRIORITIES)}")
    elif priority and isinstance(urgency, str) and urgency and urgency != priority:
        walker.add("urgency", f"says {urgency!r} but --priority says {priority!r}: make them agree")
    if walker.problems:
        raise FormInvalid(kind, walker.problems)
    chosen = priority or body.get("urgency") or spec.default_priority
    body["urgency"] = chosen
    body["form_version"] = FORM_VERSION
    return ValidatedForm(kind=kind, body=body, priority=chosen, language=body["language"])
