"""Shared helpers of ``keys directory``: local errors, file reading and writing, parsing."""

from __future__ import annotations

import argparse
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keys.directory import Directory, RootKeys, SignedDirectory, edit
from keys.directory.render import status_dict
from keys.encoding import format_time
from keys.errors import NotFound, PocnetError, Rejected, ValidationError
from keys.host.files import BUNDLE_NAME, write_public
from keys.keystore import PublicBundle, verify_bundle

Command = Callable[[argparse.Namespace], int]
_DURATION_RE = re.compile(r"^(\d{1,5})([mhdw])\Z", re.ASCII)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# -- errors: at this command line, bad input is the operator's, not a peer's -------------


def _local(func: Command) -> Command:
    """Report validation errors from the core as the operator's to fix, codes unchanged."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except PocnetError as e:
            if e.fault == "local" or isinstance(e, Rejected):
                raise
            if isinstance(e, NotFound):
                raise NotFound(e.message, code=e.code, fault="local") from e
            if isinstance(e, ValidationError):
                raise ValidationError(e.message, code=e.code, fault="local") from e
            raise

    return wrapped


# -- reading and writing ----------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise NotFound(f"no {what} at {path}", code="not_found") from e
    except OSError as e:
        raise NotFound(f"cannot read {what} {path}: {e.strerror}", code="not_found") from e


def _in_file(path: Path, e: ValidationError) -> ValidationError:
    return ValidationError(f"{path}: {e.message}", code=e.code)


def _load(path: Path) -> tuple[SignedDirectory, Directory]:
    """A directory file and its (unverified) content, for the secretariat's own tools."""
    try:
        signed = SignedDirectory.from_bytes(_read(path, "directory file"))
        return signed, signed.unverified_directory()
    except ValidationError as e:
        raise _in_file(path, e) from e


def _save(path: Path, signed: SignedDirectory) -> None:
    write_public(path, signed.to_bytes() + b"\n")


def _bundle(path: Path) -> PublicBundle:
    """A verified public bundle (a bundle file or a key folder holding ``bundle.json``)."""
    file = path / BUNDLE_NAME if path.is_dir() else path
    try:
        return verify_bundle(_read(file, "public bundle"))
    except ValidationError as e:
        raise _in_file(file, e) from e


def _duration(text: str) -> timedelta:
    m = _DURATION_RE.match(text.strip())
    if not m:
        raise ValidationError(
            f"{text!r} is not a duration: write e.g. 30d, 12h, 2w or 90m", code="bad_duration"
        )
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _time(text: str | None) -> datetime:
    if text is None or text == "now":
        return _now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValidationError(
            f"{text!r} is not a time: write e.g. 2025-03-01T12:00:00Z", code="bad_time"
        ) from e
    if moment.tzinfo is None:
        raise ValidationError(f"{text!r} has no time zone: add Z or +01:00", code="bad_time")
    return moment


def _timezone(name: str | None) -> str | None:
    """``name`` if this machine's time zone database knows it (the core checks the form;
    a machine without a database skips this check)."""
    if name is None or not zoneinfo.available_timezones():
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationError(
            f"{name!r} is not an IANA time zone: write e.g. Europe/Paris", code="bad_timezone"
        ) from e
    return name


def _languages(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


def _result(directory: Directory, signed: SignedDirectory, path: Path) -> dict[str, Any]:
    return {
        "file": str(path),
        "version": directory.version,
        "expires": format_time(directory.expires),
        "payload_sha256": directory.payload_sha256,
        "signatures": status_dict(signed.status(directory.root)),
    }


def _root(threshold: int, admins: list[Path]) -> RootKeys:
    return edit.root_from_bundles(threshold, [_bundle(p) for p in admins])
