"""Which font the PDF export embeds (ADR 0019), chosen by a pure function of what exists.

In order of preference:

1. **Noto Sans** from the ``fontpkg-noto-sans`` package (a runtime dependency, pinned): a
   Unicode TrueType font covering Latin, Greek and Cyrillic, so every Party's names and
   addresses print as written, on any machine that ran ``pip install``. Its SHA-256 is
   checked against the pinned release before the file is parsed: a changed font file is
   not handed to the font parser.
2. **DejaVu Sans** from Debian's ``fonts-dejavu-core`` (``/usr/share/fonts/truetype/dejavu``).
3. The PDF's built-in **Helvetica**, which knows Latin-1 only: every other character is
   transliterated (accents dropped by Unicode decomposition, a few punctuation marks mapped,
   the rest as ``?``), and the document says so on every page.
"""

from __future__ import annotations

import hashlib
import importlib.util
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

NOTO_FILE = "files/NotoSans[wdth,wght].ttf"
NOTO_SHA256 = "bfb7bb691513f12e734dc346c03a03f784912432d7e3fa8e56efcf906fe86b3d"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MAX_FONT_BYTES = 16 * 1024 * 1024
CORE = "Helvetica"
TRANSLITERATED_NOTE = (
    "Printed with the PDF's built-in font: characters outside Latin-1 are transliterated "
    "(install fontpkg-noto-sans for the exact text)."
)
_PUNCTUATION = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"',
    "\u201e": '"', "\u2026": "...", "\u2022": "*", "\u00a0": " ", "\u2212": "-",
}  # fmt: skip


@dataclass(frozen=True)
class PdfFont:
    """The font to embed: ``path`` None means the built-in Helvetica (Latin-1 only)."""

    name: str
    path: Path | None
    source: str

    @property
    def unicode(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class Candidate:
    """A font file that may exist, and the SHA-256 it must have (None: any)."""

    name: str
    path: Path | None
    source: str
    sha256: str | None = None


def choose(candidates: Iterable[Candidate], digest_of: Callable[[Path], str | None]) -> PdfFont:
    """The first candidate whose file exists (``digest_of`` gives None when it does not)
    with the expected digest; else the built-in font."""
    for c in candidates:
        if c.path is None:
            continue
        digest = digest_of(c.path)
        if digest is None or (c.sha256 is not None and digest != c.sha256):
            continue
        return PdfFont(c.name, c.path, c.source)
    return PdfFont(CORE, None, "built-in (Latin-1, transliterated)")


def candidates() -> list[Candidate]:
    """Where the fonts would be on this machine."""
    found: list[Candidate] = []
    spec = importlib.util.find_spec("fontpkg_noto_sans")
    if spec is not None and spec.origin is not None:
        noto = Path(spec.origin).parent / NOTO_FILE
        found.append(Candidate("NotoSans", noto, "fontpkg-noto-sans", NOTO_SHA256))
    found.append(Candidate("DejaVuSans", DEJAVU, "Debian fonts-dejavu-core"))
    return found


def file_digest(path: Path) -> str | None:
    """SHA-256 of a font file, or None if it is missing, unreadable or too large."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FONT_BYTES:
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def find_font() -> PdfFont:
    """The font for this machine (see the module's docstring for the order)."""
    return choose(candidates(), file_digest)


def transliterate(text: str) -> str:
    """``text`` in Latin-1 for the built-in font: accents kept where Latin-1 has the
    letter, else dropped; typographic punctuation made plain; anything else ``?``."""
    out: list[str] = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
            continue
        if ch in _PUNCTUATION:
            out.append(_PUNCTUATION[ch])
            continue
        base = unicodedata.normalize("NFKD", ch)
        plain = "".join(c for c in base if ord(c) < 256 and not unicodedata.combining(c))
        out.append(plain or "?")
    return "".join(out)
