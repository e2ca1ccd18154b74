"""Provider failures as API errors: clear 4xx for configuration problems, never a 500."""

from assistants.providers import errors as provider_errors
from core.api.errors import APIError

# (status, code) per normalized provider error, most specific first.
_MAPPING = [
    (provider_errors.AuthenticationFailed, 400, "provider_authentication_failed"),
    (provider_errors.InvalidRequest, 400, "provider_invalid_request"),
    (provider_errors.RateLimited, 429, "provider_rate_limited"),
    (provider_errors.ProviderTimeout, 504, "provider_timeout"),
    (provider_errors.ProviderUnavailable, 502, "provider_unavailable"),
]


def provider_error_to_api(error: provider_errors.ProviderError) -> APIError:
    status, code = next(
        ((status, code) for cls, status, code in _MAPPING if isinstance(error, cls)),
        (502, "provider_error"),
    )
    message = error.user_message
    if isinstance(error, provider_errors.AuthenticationFailed | provider_errors.InvalidRequest):
        # The detail says what to fix (missing key, model refused a parameter); it is
        # scrubbed of credentials by the provider layer.
        message = f"{message} {error.detail}".strip()
    api_error = APIError(message, code=code, status_code=status)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        api_error.wait = retry_after
    return api_error
