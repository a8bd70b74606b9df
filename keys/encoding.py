"""Byte encodings shared by every format: canonical JSON, strict JSON, base64url, PAE.

- Canonical JSON is RFC 8785 (JCS), produced by the ``rfc8785`` library.
- Strict decoding enforces a size limit, a depth limit, rejects duplicate keys, NaN and
  infinities, and anything but a JSON object at the top.
- PAE is DSSE's pre-authentication encoding: every signature covers
  ``"DSSEv1" SP len(type) SP type SP len(body) SP body``, so bytes signed for one purpose
  can never be read as another.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import rfc8785

from keys.errors import DecodeError, TooLarge

DEFAULT_MAX_JSON_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 16

_B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z\Z", re.ASCII)


_SAFE_INT = 2**53 - 1

# Characters that change how the rest of a line is displayed: bidirectional controls, line
# and paragraph separators, a byte order mark. Free text shown to people (directory
# fields, attachment names) refuses them, with the C0 and C1 controls.
DISPLAY_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ufeff"
)


def has_controls(text: str) -> bool:
    """True if ``text`` holds a C0 or C1 control, DEL or one of :data:`DISPLAY_CONTROLS`."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in DISPLAY_CONTROLS for c in text)


def canonical(obj: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value.

    Values made only of dicts with ASCII keys, lists, strings, booleans, None and integers
    within +-(2**53 - 1) take a fast path through the standard library's C encoder, whose
    output is identical for them (same escapes, and code-point order equals UTF-16 order
    for ASCII keys). Anything else (floats, non-ASCII keys, tuples, subclasses) goes
    through the ``rfc8785`` library. A property test checks that both paths agree.

    Raises:
        DecodeError: the value has no canonical form (e.g. an integer beyond 2**53).
    """
    if _is_plain(obj):
        try:
            return json.dumps(
                obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise DecodeError(f"value cannot be canonicalised: {type(e).__name__}") from e


def _is_plain(value: Any) -> bool:
    """True if ``value`` holds only types whose ``json.dumps`` form is RFC 8785's."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or item is True or item is False:
            continue
        if kind is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DecodeError("duplicate key in JSON object", code="duplicate_key")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise DecodeError(f"JSON constant {name} is not allowed")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError("JSON number out of range")
    return value


def _parse_int(text: str) -> int | float:
    # JSON numbers are IEEE 754 doubles (RFC 8785 section 3.2.2.3): an integer within
    # +-(2**53 - 1) stays an int; a larger one is the double it denotes, so that what a
    # sealer canonicalised from a float (e.g. 2.0**53 -> "9007199254740992") parses back
    # to the same canonical bytes. Long digit strings never reach int() (whose own digit
    # limit would raise a ValueError).
    if len(text) <= 17:
        value = int(text)
        if -_SAFE_INT <= value <= _SAFE_INT:
            return value
    return _parse_float(text)


def check_depth(value: Any, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Check that a decoded JSON value nests no deeper than ``max_depth``.

    The top-level object or array counts as depth 1; scalars add nothing.

    Raises:
        DecodeError: nested deeper (code ``too_deep``).
    """
    _depth(value, max_depth)


def _depth(value: Any, limit: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > limit:
            raise DecodeError(f"JSON nested deeper than {limit}", code="too_deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def loads_strict(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> dict[str, Any]:
    """Parse one JSON object strictly.

    Numbers follow RFC 8785's model: integers within +-(2**53 - 1) come back as ``int``,
    any other number as a finite ``float`` (a number that overflows is refused).

    Raises:
        TooLarge: more than ``max_bytes``.
        DecodeError: not UTF-8, not JSON, duplicate keys, too deep, or not an object.
    """
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError as e:  # a lone surrogate has no UTF-8 form
        raise DecodeError("not valid JSON: UnicodeEncodeError") from e
    if len(raw) > max_bytes:
        raise TooLarge(f"JSON of {len(raw)} bytes exceeds the limit of {max_bytes}")
    # Bound nesting before the recursive parser sees it: count brackets cheaply.
    if raw.count(b"[") + raw.count(b"{") > max_depth and _bracket_depth(raw) > max_depth:
        raise DecodeError(f"JSON nested deeper than {max_depth}", code="too_deep")
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except DecodeError:
        raise
    except json.JSONDecodeError as e:  # where, so that a person can fix a file
        raise DecodeError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise DecodeError(f"not valid JSON: not UTF-8 (byte {e.start})") from e
    except (ValueError, RecursionError) as e:
        raise DecodeError(f"not valid JSON: {type(e).__name__}") from e
    if not isinstance(value, dict):
        raise DecodeError("expected a JSON object")
    # No second walk of the tree: in JSON that parsed, the brackets outside strings are
    # exactly its arrays and objects, so the check above has already bounded the depth
    # (either there are at most max_depth brackets at all, or _bracket_depth counted).
    return value


def _bracket_depth(raw: bytes) -> int:
    """Maximum nesting of brackets outside strings."""
    depth = best = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            best = max(best, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return best


def b64u_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str, *, max_bytes: int | None = None) -> bytes:
    """Strict unpadded base64url.

    Raises:
        DecodeError: padding, characters outside the alphabet or non-canonical trailing bits.
        TooLarge: decoded length above ``max_bytes``.
    """
    if not isinstance(text, str) or not text.isascii() or len(text) % 4 == 1:
        raise DecodeError("not unpadded base64url")
    if max_bytes is not None and len(text) * 3 // 4 > max_bytes:
        raise TooLarge(f"base64url value exceeds {max_bytes} bytes")
    raw = text.encode("ascii")
    if raw.translate(None, _B64URL_ALPHABET):  # anything left is outside the alphabet
        raise DecodeError("not unpadded base64url")
    try:
        out = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as e:
        raise DecodeError("not unpadded base64url") from e
    # Only the last, partial group can carry non-zero padding bits: re-encode just that.
    whole = len(raw) // 4
    if raw[whole * 4 :] != base64.urlsafe_b64encode(out[whole * 3 :]).rstrip(b"="):
        raise DecodeError("non-canonical base64url")
    return out


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``body`` tagged with ``payload_type``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: Any, field: str = "time") -> datetime:
    """Parse an RFC 3339 UTC timestamp (``...Z``).

    Raises:
        DecodeError: not a string of that form.
    """
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise DecodeError(f"{field} must be an RFC 3339 UTC time ending in Z", code="bad_time")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as e:
        raise DecodeError(f"{field} is not a valid time", code="bad_time") from e
