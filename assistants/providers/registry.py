"""Provider name -> adapter. Adapters are imported lazily so that using one provider
never requires importing (or installing) the others' SDKs."""

from __future__ import annotations

import importlib

from .base import ChatProvider, ProviderConfig
from .errors import InvalidRequest
from .retry import RetryPolicy

# name -> (module, class, extra constructor kwargs)
_ADAPTERS: dict[str, tuple[str, str, dict[str, object]]] = {
    "openai": ("openai_provider", "OpenAIProvider", {}),
    "openai_compatible": ("openai_provider", "OpenAIProvider", {"compatible": True}),
    "anthropic": ("anthropic_provider", "AnthropicProvider", {}),
    "google": ("google_provider", "GoogleProvider", {}),
    "local": ("local_provider", "LocalExtractiveProvider", {}),
}
PROVIDER_NAMES: tuple[str, ...] = tuple(_ADAPTERS)


def get_provider(
    config: ProviderConfig, *, retry_policy: RetryPolicy | None = None
) -> ChatProvider:
    try:
        module_name, class_name, kwargs = _ADAPTERS[config.provider]
    except KeyError:
        raise InvalidRequest(f"Unknown AI provider {config.provider!r}.") from None
    module = importlib.import_module(f"{__package__}.{module_name}")
    adapter = getattr(module, class_name)
    return adapter(config, retry_policy, **kwargs)
