"""The forms' message catalogue: extract the strings, read ``.po`` files, write ``.mo``.

The strings to translate are the kinds' titles, the fields' help texts and the choices
(enumeration codes: ``ip_port``, ``follow_up_mla`` ...), taken from the kind tables. The
catalogue lives in ``node/forms/locale/``: ``pocnet-forms.pot`` (the template) and
``LANG/LC_MESSAGES/pocnet-forms.po`` per language, compiled to ``.mo`` for the standard
library's :mod:`gettext`. A new language is a new ``.po`` (copy the ``.pot``, translate,
run ``python -m node.forms.catalog``). A unit test fails when the ``.pot`` or a ``.mo``
is out of date.
"""

from __future__ import annotations

import ast
import struct
import sys
from pathlib import Path

from node.forms.registry import KINDS, fields_for
from node.forms.spec import Field

DOMAIN = "pocnet-forms"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
MO_MAGIC = 0x950412DE


def _walk(fields: tuple[Field, ...], out: list[str]) -> None:
    for f in fields:
        for text in (f.help, *f.choices):
            if text and text not in out:
                out.append(text)
        if f.item is not None:
            _walk((f.item,), out)
        _walk(f.fields, out)


# Words of the printable view (node.forms.i18n), beyond the kind tables.
VIEW_STRINGS = ("yes", "no")


def messages() -> list[str]:
    """Every string to translate, in the order of the kind tables, then the view's."""
    out: list[str] = []
    for spec in KINDS.values():
        if spec.title not in out:
            out.append(spec.title)
        _walk(fields_for(spec), out)
    out += [s for s in VIEW_STRINGS if s not in out]
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def pot() -> str:
    """The ``.pot`` template."""
    lines = [
        "# PoCNet forms: titles, help texts and enumerations of the request forms.",
        'msgid ""',
        'msgstr ""',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        "",
    ]
    for text in messages():
        lines += [f"msgid {_quote(text)}", 'msgstr ""', ""]
    return "\n".join(lines)


def read_po(text: str) -> dict[str, str]:
    """``{msgid: msgstr}`` of a ``.po`` file (single and continued lines; no plurals, no
    contexts: the forms need neither). The header entry is kept under ``""``."""
    entries: dict[str, str] = {}
    key: str | None = None
    current: dict[str, str] = {}

    def flush() -> None:
        if "msgid" in current:
            entries[current["msgid"]] = current.get("msgstr", "")
        current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            flush()
            key, line = "msgid", line[6:]
        elif line.startswith("msgstr "):
            key, line = "msgstr", line[7:]
        elif not line.startswith('"') or key is None:
            raise ValueError(f"unexpected line in .po: {raw[:60]!r}")
        value = ast.literal_eval(line)
        if not isinstance(value, str):
            raise ValueError(f"not a string in .po: {raw[:60]!r}")
        current[key] = current.get(key, "") + value
    flush()
    return entries


def mo_bytes(entries: dict[str, str]) -> bytes:
    """A GNU ``.mo`` file of the translated entries (sorted, no hash table)."""
    items = sorted((k, v) for k, v in entries.items() if v)
    ids = [k.encode("utf-8") for k, _ in items]
    strs = [v.encode("utf-8") for _, v in items]
    n = len(items)
    header = 7 * 4
    ids_table = header
    strs_table = ids_table + 8 * n
    data_start = strs_table + 8 * n
    offsets: list[int] = []
    blob = b""
    for s in (*ids, *strs):
        offsets.append(data_start + len(blob))
        blob += s + b"\0"
    out = struct.pack("<7I", MO_MAGIC, 0, n, ids_table, strs_table, 0, data_start)
    for i, s in enumerate(ids):
        out += struct.pack("<2I", len(s), offsets[i])
    for i, s in enumerate(strs):
        out += struct.pack("<2I", len(s), offsets[n + i])
    return out + blob


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def regenerate() -> list[str]:
    """Rewrite the ``.pot`` and every ``.mo``; the files changed."""
    changed = []
    targets = {LOCALE_DIR / f"{DOMAIN}.pot": pot().encode("utf-8")}
    for po in po_files():
        targets[po.with_suffix(".mo")] = mo_bytes(read_po(po.read_text(encoding="utf-8")))
    for path, data in targets.items():
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            changed.append(str(path))
    return changed


if __name__ == "__main__":
    done = regenerate()
    print("\n".join(done) if done else "catalogue up to date", file=sys.stdout)
