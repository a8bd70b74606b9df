"""keys/host/passphrase.py: passphrase files."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.errors import KeystoreError
from keys.host import passphrase

# --- from the security review of keys/ (findings 10) ----------

# --- 10. Passphrase files: the first line, as documented, and nothing exotic --------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"secret\n", "secret"),
        (b"secret\r\n", "secret"),
        (b"secret", "secret"),
        (b"secret\nsecond line\n", "secret"),
        (b"pass\x0cword\n", "pass\x0cword"),
        ("pass\u2028word\n".encode(), "pass\u2028word"),
        ("pass\x85word\n".encode(), "pass\x85word"),
        (b"pass\x1eword\n", "pass\x1eword"),
        (b" spaced \n", " spaced "),
    ],
)
def test_passphrase_file_first_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "pass"
    path.write_bytes(content)
    assert passphrase.resolve(path, env={}) == expected.encode()


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\n", b"secret\xc3\n", b"x" * (1 << 20)], ids=["latin", "cut", "huge"]
)
def test_passphrase_file_that_is_not_a_passphrase(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "pass"
    path.write_bytes(content)
    with pytest.raises(KeystoreError) as info:
        passphrase.resolve(path, env={})
    assert "\\xff" not in info.value.message and "xxxx" not in info.value.message
