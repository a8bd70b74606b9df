"""Read a form from a JSON or TOML file into plain JSON values.

TOML dates and times become ISO 8601 strings: an offset date-time keeps its offset, a local
date-time stays naive (and the validator then asks for a time zone).
"""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from keys.encoding import loads_strict
from keys.errors import DecodeError, InvalidInput, NotFound, TooLarge

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
        try:
            return loads_strict(data, max_bytes=max_bytes)
        except DecodeError as e:
            raise DecodeError(_json_position(data) or e.message, code=e.code) from e
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DecodeError(f"not UTF-8 text (byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise DecodeError(f"not valid TOML: {e}") from e  # its text gives line and column
    return dict(_plain(parsed))


def _json_position(data: bytes) -> str | None:
    """Where a local JSON file goes wrong, as a person reads it (line and column)."""
    try:
        json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        return f"not UTF-8 text (byte {e.start})"
    except json.JSONDecodeError as e:
        return f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
    except (ValueError, RecursionError):
        return None
    return None


def read_form(path: Path, *, max_bytes: int = DEFAULT_MAX_FORM_BYTES) -> dict[str, Any]:
    """Read a form file; ``.toml`` files are TOML, anything else JSON.

    Raises:
        NotFound: the file does not exist.
        InvalidInput: unreadable, too large or malformed (the message says which and
            where: line and column); the fault is the input's, never the remote party's.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError as e:
        raise NotFound(f"no form file at {path}", code="file_not_found", fault="local") from e
    except OSError as e:
        raise InvalidInput(f"cannot read the form {path}: {e.strerror}") from e
    try:
        return parse_form(data, toml=path.suffix.lower() == ".toml", max_bytes=max_bytes)
    except (DecodeError, TooLarge) as e:
        raise InvalidInput(f"{path}: {e.message}", code=e.code) from e
