"""Regenerate the field tables in ``docs/forms.md`` from the kind tables.

Run from the repository root: ``python -m node.forms.docs``. A unit test fails when the
document and the tables disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from node.forms.mapping import mapping_markdown
from node.forms.template import describe_markdown

START = "<!-- generated: node.forms.template.describe_markdown -->"
MAPPING_START = "<!-- generated: node.forms.mapping.mapping_markdown -->"
END = "<!-- end generated -->"


def _replace(text: str, start: str, content: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{start}\n\n{content.strip()}\n\n{END}{tail}"


def regenerate(path: Path) -> bool:
    """Rewrite the generated parts of ``path``; True if it changed."""
    text = path.read_text(encoding="utf-8")
    new = _replace(text, START, describe_markdown())
    new = _replace(new, MAPPING_START, mapping_markdown())
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/forms.md")
    print(f"{target}: {'updated' if regenerate(target) else 'up to date'}")
