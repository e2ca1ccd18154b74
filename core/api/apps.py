from django.apps import AppConfig


class APIConventionsConfig(AppConfig):
    """The conventions of /api/v1/ that DRF has no setting for."""

    name = "core.api"
    label = "api_conventions"

    def ready(self) -> None:
        from core.api.strict import refuse_non_string_text

        refuse_non_string_text()
