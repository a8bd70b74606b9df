"""Every message kind (DESIGN.md section 7), each with its full field table."""

from __future__ import annotations

from node.forms import kinds_emergency, kinds_general, kinds_preservation, kinds_reports
from node.forms.common import common_fields
from node.forms.spec import Field, KindSpec

_ALL: tuple[KindSpec, ...] = (
    *kinds_preservation.KINDS,
    *kinds_emergency.KINDS,
    *kinds_general.KINDS,
    *kinds_reports.KINDS,
)
KINDS: dict[str, KindSpec] = {k.name: k for k in _ALL}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)


def fields_for(spec: KindSpec) -> tuple[Field, ...]:
    """The common fields followed by the kind's own; the fields named in ``spec.order``
    first, in that order (a template's sections)."""
    every = (*common_fields(light=spec.light_common, requires=spec.requires), *spec.fields)
    if not spec.order:
        return every
    by_name = {f.name: f for f in every}
    first = tuple(by_name[name] for name in spec.order)
    return (*first, *(f for f in every if f.name not in spec.order))
