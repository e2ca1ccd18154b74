"""``manage.py stripe_sync`` and the platform admin's billing pages."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils.html import escape

from billing.models import Subscription
from billing.tests.conftest import fresh
from billing.tests.test_metering import spend
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


def test_stripe_sync_catches_up_with_missed_webhooks_and_usage(subscribed, on_free, stripe_api):
    # given: Stripe's events were lost (never delivered) and usage was never reported
    stripe_api.invoice_fail(subscribed)
    spend(on_free, 321, hours_ago=3)

    out = StringIO()
    call_command("stripe_sync", stdout=out)

    assert Subscription.objects.get(stripe_id=subscribed).status == "past_due"
    assert fresh(on_free).plan == "team"  # grace
    assert "usage: 1 meter events sent" in out.getvalue()
    assert stripe_api.meter_count() == 1

    stripe_api.subscription_cancel(subscribed)
    call_command("stripe_sync", "--organization", on_free.slug, stdout=StringIO())
    assert fresh(on_free).plan == "free"


def test_stripe_sync_needs_a_key(settings):
    from django.core.management.base import CommandError

    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(CommandError):
        call_command("stripe_sync", stdout=StringIO())


def test_platform_admin_lists_subscriptions_and_plans_prices(
    subscribed, on_free, stripe_api, django_user_model
):
    staff = django_user_model.objects.create_superuser(
        email="staff@platform.test", password=PASSWORD
    )
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(staff)

    page = browser.get("/admin/billing/subscription/")
    assert page.status_code == 200
    # Read again: another test may have renamed the session's shared object in memory.
    name = type(on_free.organization).objects.get(pk=on_free.organization.pk).name
    assert escape(name) in page.content.decode()
    plan = browser.get("/admin/billing/plan/").content.decode()
    assert "price_team_month" in plan
    for path in ("stripeevent", "stripecustomer", "meterreport"):
        assert browser.get(f"/admin/billing/{path}/").status_code == 200

    # an admin resync re-reads Stripe (here: a cancellation whose webhook was lost)
    stripe_api.subscription_cancel(subscribed)
    row = Subscription.objects.get(stripe_id=subscribed)
    browser.post(
        "/admin/billing/subscription/",
        {"action": "resync", "_selected_action": [row.pk]},
    )
    assert fresh(on_free).plan == "free"
