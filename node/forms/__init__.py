"""Request forms: one declarative table per message kind and one validator.

- :mod:`node.forms.spec`: what a field is;
- :mod:`node.forms.common`: the common fields and shared blocks;
- ``kinds_*``: the tables, by legal family; :mod:`node.forms.registry` gathers them;
- :mod:`node.forms.validate`: the validator; :mod:`node.forms.template`: templates and
  descriptions; :mod:`node.forms.migrate`: form versions and the migration of old bodies;
  :mod:`node.forms.mapping`: T-CY template field -> form field; :mod:`node.forms.i18n` and
  :mod:`node.forms.catalog`: English and French (gettext); :mod:`node.cli.formfile`:
  JSON/TOML files;
  :mod:`node.cli.interactive`: asking for what is missing on a terminal.
"""

from node.forms.registry import KIND_NAMES, KINDS
from node.forms.validate import (
    FormDefaults,
    FormInvalid,
    Problem,
    ValidatedForm,
    get_kind,
    validate_form,
)

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "FormDefaults",
    "FormInvalid",
    "Problem",
    "ValidatedForm",
    "get_kind",
    "validate_form",
]
