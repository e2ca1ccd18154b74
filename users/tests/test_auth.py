"""django-allauth on the organization hosts: password reset, TOTP MFA, verification."""

import re

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.core import mail
from django.test import Client

from tests.helpers import PASSWORD
from users.models import User


def _login(client, email, password=PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


@pytest.mark.django_db
def test_password_reset_by_email(org_a):
    browser = Client(HTTP_HOST=org_a.host)
    browser.post("/accounts/password/reset/", {"email": org_a.member.email})
    assert len(mail.outbox) == 1
    link = re.search(
        r"http://alpha\.localhost(/accounts/password/reset/key/\S+)", mail.outbox[0].body
    ).group(1)

    form = browser.get(link, follow=True)
    new_password = "a-brand-new-passphrase-77"
    browser.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"password1": new_password, "password2": new_password},
    )

    # A fresh copy: the session-wide fixture object must keep its own password hash.
    assert User.objects.get(pk=org_a.member.pk).check_password(new_password)


@pytest.mark.django_db
def test_totp_is_asked_for_after_the_password(org_a):
    secret = generate_totp_secret()
    TOTP.activate(org_a.admin, secret)
    browser = Client(HTTP_HOST=org_a.host)

    response = _login(browser, org_a.admin.email)
    assert response.status_code == 302 and "/accounts/2fa/authenticate/" in response["Location"]
    assert browser.get("/api/v1/me").status_code == 401  # not logged in yet

    code = format_hotp_value(hotp_value(secret, next(iter(_counters()))))
    done = browser.post("/accounts/2fa/authenticate/", {"code": code})
    assert done.status_code == 302
    assert browser.get("/api/v1/me").json()["user"]["email"] == org_a.admin.email


def _counters():
    from allauth.mfa.totp.internal.auth import yield_hotp_counters_from_time

    return yield_hotp_counters_from_time()


@pytest.mark.django_db
def test_unverified_address_cannot_log_in(org_a):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(user=org_a.viewer).update(verified=False)
    response = _login(Client(HTTP_HOST=org_a.host), org_a.viewer.email)
    assert response.status_code == 302 and "confirm-email" in response["Location"]
    assert mail.outbox and "/verify-email/" in mail.outbox[-1].body


@pytest.mark.django_db
def test_schema_and_swagger_ui_are_served(org_a):
    browser = Client(HTTP_HOST=org_a.host)
    schema = browser.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and b"/api/v1/chat" in schema.content
    assert browser.get("/api/docs/").status_code == 200
    public = Client(HTTP_HOST="localhost").get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert b"/api/v1/signup" in public.content and b"/api/v1/chat" not in public.content
