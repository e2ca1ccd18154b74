"""The embeddable chat widget (integrations/widget, docs/widget.md)."""

import environ

env = environ.Env()

# How long a visitor's signed token (their conversation) stays valid.
WIDGET_VISITOR_TOKEN_MAX_AGE = env.int("WIDGET_VISITOR_TOKEN_MAX_AGE", default=30 * 24 * 3600)
