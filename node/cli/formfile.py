"""Read a form from a JSON or TOML file into plain JSON values.

TOML dates and times become ISO 8601 strings: an offset date-time keeps its offset, a local
date-time stays naive (and the validator then asks for a time zone).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from keys.encoding import loads_strict
from keys.errors import DecodeError, NotFound, TooLarge, ValidationError

DEFAULT_MAX_FORM_BYTES = 256 * 1024


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def parse_form(
    data: bytes, *, toml: bool, max_bytes: int = DEFAULT_MAX_FORM_BYTES
) -> dict[str, Any]:
    """Parse form bytes (JSON, or TOML when ``toml``).

    Raises:
        TooLarge: more than ``max_bytes``.
        DecodeError: not valid JSON / TOML, or not an object at the top.
    """
    if len(data) > max_bytes:
        raise TooLarge(f"the form is {len(data)} bytes; the limit is {max_bytes}")
    if not toml:
        return loads_strict(data, max_bytes=max_bytes)
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DecodeError(f"the form is not valid TOML: {e}") from e
    return dict(_plain(parsed))


def read_form(path: Path, *, max_bytes: int = DEFAULT_MAX_FORM_BYTES) -> dict[str, Any]:
    """Read a form file; ``.toml`` files are TOML, anything else JSON.

    Raises:
        NotFound: the file does not exist.
        ValidationError: unreadable, too large or malformed (the message says which).
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError as e:
        raise NotFound(f"no form file at {path}", code="file_not_found", fault="local") from e
    except OSError as e:
        raise ValidationError(f"cannot read the form {path}: {e.strerror}") from e
    try:
        return parse_form(data, toml=path.suffix.lower() == ".toml", max_bytes=max_bytes)
    except (DecodeError, TooLarge) as e:
        raise type(e)(f"{path}: {e.message}", code=e.code) from e
