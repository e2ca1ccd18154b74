"""The one exception handler: each domain error answers its status in the one error
format (what an API client sees), with Retry-After when a wait is known."""

import pytest

from core import errors
from core.api.errors import exception_handler


def _answer(error):
    response = exception_handler(error, {})
    return response.status_code, response.data, response.get("Retry-After")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.DomainError("Nope.", code="not_pending"), 400, "not_pending"),
        (errors.NotAuthenticated("Log in.", code="login_required"), 401, "login_required"),
        (errors.PermissionDenied("Not yours.", code="email_mismatch"), 403, "email_mismatch"),
        (errors.NotFound("No such link."), 404, "not_found"),
        (errors.Conflict("Already a member.", code="already_member"), 409, "already_member"),
        (errors.QuotaExceeded("Used up.", quota="monthly_tokens"), 402, "quota_exceeded"),
        (errors.PayloadTooLarge("Too big."), 413, "payload_too_large"),
        (errors.UnsupportedType("Not a PDF."), 415, "unsupported_media_type"),
        (errors.ServiceUnavailable(), 503, "service_unavailable"),
        (errors.ProviderFailed("Down.", code="provider_unavailable"), 502, "provider_unavailable"),
        (errors.ProviderRejected("Bad key."), 400, "provider_invalid_request"),
        (errors.ProviderTimedOut("Slow."), 504, "provider_timeout"),
    ],
)
def test_each_domain_error_has_its_status_and_code(error, status, code):
    answered, body, retry_after = _answer(error)

    assert answered == status
    assert body == {"error": {"code": code, "message": error.message, "fields": {}}}
    assert retry_after is None


def test_rate_limits_say_when_to_retry():
    assert _answer(errors.RateLimited("Slow down.", retry_after=7)) == (
        429,
        {"error": {"code": "rate_limited", "message": "Slow down.", "fields": {}}},
        "7",
    )
    status, body, retry_after = _answer(errors.ProviderRateLimited("Busy.", retry_after=3))
    assert (status, body["error"]["code"], retry_after) == (429, "provider_rate_limited", "3")


def test_validation_failures_name_each_field():
    status, body, _ = _answer(errors.ValidationFailed(fields={"name": ["Too long."]}))

    assert status == 400
    assert body == {
        "error": {"code": "invalid", "message": "Invalid input.", "fields": {"name": ["Too long."]}}
    }


def test_a_subclass_answers_like_its_parent():
    class LastAdmin(errors.Conflict):
        code = "last_admin"

    status, body, _ = _answer(LastAdmin("Promote someone first."))

    assert (status, body["error"]["code"]) == (409, "last_admin")
