"""Text fields take JSON strings only.

DRF's CharField turns a number into its text (``{"name": 5}`` saves "5"), so a request
that breaks the schema (``type: string``) is accepted. The API reads JSON only
(``DEFAULT_PARSER_CLASSES``), where text always arrives as a string; anything else is
the caller's mistake and gets the field error. Applied to every CharField (and so to
EmailField, URLField, SlugField, RegexField) once, at start-up.
"""

from rest_framework import fields

_original = fields.CharField.to_internal_value


def _to_internal_value(self, data):
    if not isinstance(data, str):
        self.fail("invalid")
    return _original(self, data)


def refuse_non_string_text() -> None:
    fields.CharField.to_internal_value = _to_internal_value
