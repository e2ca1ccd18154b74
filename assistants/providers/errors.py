"""Normalized provider errors.

Every adapter turns its SDK's exceptions into one of these, so callers (retry, fallback,
views) never need to know which SDK was involved. `user_message` is safe to show an end
user; `detail` is for logs and is scrubbed of credentials.
"""

from __future__ import annotations

import re

from core import errors as domain_errors

# Shapes of common provider keys, scrubbed even when we were not told the exact key
# (e.g. an upstream proxy echoing a different credential back in its error body).
_KEY_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),  # OpenAI / Anthropic style
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
)
REDACTED = "[REDACTED]"


def redact(text: str, secret: str | None = None) -> str:
    """Remove `secret` and anything shaped like an API key from `text`."""
    if secret:
        text = text.replace(secret, REDACTED)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.re.groups else "") + REDACTED,
            text,
        )
    return text


class ProviderError(Exception):
    retryable: bool = False
    user_message: str = "The AI provider could not complete the request."

    def __init__(
        self,
        detail: str = "",
        *,
        provider: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.detail = redact(detail or self.user_message)
        self.provider = provider
        self.status_code = status_code
        super().__init__(self.detail)

    def redact(self, secret: str | None) -> None:
        """Scrub a known credential from the detail (called by adapters with their key)."""
        self.detail = redact(self.detail, secret)
        self.args = (self.detail,)

    def __str__(self) -> str:
        prefix = f"[{self.provider}] " if self.provider else ""
        return f"{prefix}{self.detail}"


class RateLimited(ProviderError):
    retryable = True
    user_message = "The AI provider is rate limiting requests. Please try again shortly."

    def __init__(self, detail: str = "", *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    retryable = True
    user_message = "The AI provider took too long to respond."


class ProviderUnavailable(ProviderError):
    retryable = True
    user_message = "The AI provider is temporarily unavailable."


class MalformedResponse(ProviderUnavailable):
    """Invalid JSON, an unexpected shape, or a stream that ended before its terminal
    event. Treated like an outage: a truncated answer must never pass as a success."""

    user_message = "The AI provider returned an incomplete or invalid response."


class InvalidRequest(ProviderError):
    user_message = "The request was rejected by the AI provider as invalid."


class AuthenticationFailed(ProviderError):
    user_message = "The AI provider rejected the configured credentials."


# Errors where trying another model cannot help: the request itself or our credentials
# are wrong, and a fallback would only hide a configuration problem.
NON_FALLBACK_ERRORS: tuple[type[ProviderError], ...] = (InvalidRequest, AuthenticationFailed)


def error_for_status(
    status: int,
    detail: str,
    *,
    retry_after: float | None = None,
    provider: str | None = None,
) -> ProviderError:
    """Map an HTTP status from any provider to the matching normalized error."""
    kwargs = {"provider": provider, "status_code": status}
    if status == 429:
        return RateLimited(detail, retry_after=retry_after, **kwargs)
    if status in (401, 403):
        return AuthenticationFailed(detail, **kwargs)
    if status in (408, 504):
        return ProviderTimeout(detail, **kwargs)
    if status == 529 or status >= 500:  # 529: Anthropic "overloaded"
        return ProviderUnavailable(detail, **kwargs)
    if 400 <= status < 500:
        return InvalidRequest(detail, **kwargs)
    return MalformedResponse(detail, **kwargs)


# (domain error, code) per normalized provider error, most specific first.
_DOMAIN_ERRORS = [
    (AuthenticationFailed, domain_errors.ProviderRejected, "provider_authentication_failed"),
    (InvalidRequest, domain_errors.ProviderRejected, "provider_invalid_request"),
    (RateLimited, domain_errors.ProviderRateLimited, "provider_rate_limited"),
    (ProviderTimeout, domain_errors.ProviderTimedOut, "provider_timeout"),
    (ProviderUnavailable, domain_errors.ProviderFailed, "provider_unavailable"),
]


def as_domain_error(error: ProviderError) -> domain_errors.ProviderFailed:
    """The platform's error for a provider failure (the API answers a clear 4xx/5xx
    for it, never a 500; chat streams send its code and message as an event)."""
    cls, code = next(
        ((cls, code) for kind, cls, code in _DOMAIN_ERRORS if isinstance(error, kind)),
        (domain_errors.ProviderFailed, "provider_error"),
    )
    message = error.user_message
    if isinstance(error, AuthenticationFailed | InvalidRequest):
        # The detail says what to fix (missing key, model refused a parameter); it is
        # scrubbed of credentials above.
        message = f"{message} {error.detail}".strip()
    if cls is domain_errors.ProviderRateLimited:
        return cls(message, code=code, retry_after=getattr(error, "retry_after", None))
    return cls(message, code=code)
