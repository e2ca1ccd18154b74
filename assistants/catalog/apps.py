from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """The AI model catalog. A separate app because it lives in the public schema,
    while the rest of `assistants` (assistants, credentials) is per organization."""

    name = "assistants.catalog"
    label = "catalog"
    verbose_name = "AI model catalog"
