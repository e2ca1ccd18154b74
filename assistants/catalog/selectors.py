from django.db.models import QuerySet

from assistants.catalog.models import AIModel


def ai_model_list(
    *, capability: str | None = None, provider: str | None = None
) -> QuerySet[AIModel]:
    models = AIModel.objects.available()
    if capability:
        models = models.with_capability(capability)
    if provider:
        models = models.filter(provider=provider)
    return models


def ai_model_get_by_key(*, key: str, capability: str | None = None) -> AIModel | None:
    """Find an available model by "provider/model_id" (the id clients send)."""
    provider, _, model_id = key.partition("/")
    return ai_model_list(capability=capability, provider=provider).filter(model_id=model_id).first()
