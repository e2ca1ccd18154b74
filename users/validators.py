import re

from django.conf import settings
from django.core.exceptions import ValidationError

# A slug is both a DNS label (acme.example.com) and a PostgreSQL schema name,
# so only lowercase letters and digits, starting with a letter.
SLUG_RE = re.compile(r"^[a-z][a-z0-9]*$")
SLUG_MIN, SLUG_MAX = 3, 40


def validate_organization_slug(value: str) -> None:
    if not SLUG_MIN <= len(value) <= SLUG_MAX:
        raise ValidationError(f"Use {SLUG_MIN} to {SLUG_MAX} characters.", code="invalid_length")
    if not SLUG_RE.match(value):
        raise ValidationError(
            "Use lowercase letters and digits only, starting with a letter.", code="invalid_format"
        )
    if value in settings.RESERVED_SLUGS or value.startswith("pg"):
        raise ValidationError("This name is reserved. Choose another.", code="reserved")
