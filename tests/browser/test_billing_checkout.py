"""Upgrading through Stripe Checkout, in the browser, against the local Stripe API.

The admin chooses a plan on the Billing page; the dashboard asks the platform for a
Checkout session and the browser goes to its URL, the local Stripe's hosted page
(billing/tests/stripe_api/server.py). Paying there does what Stripe does on the wire:
the signed ``customer.subscription.created``, ``checkout.session.completed`` and
``invoice.paid`` events are posted to the platform's webhook, and the browser is sent
back to the success URL. The plan changes only when the Celery worker has processed
the events; the page, which polls after a successful return, then shows it.
"""

import re

from playwright.sync_api import expect

from tests.browser.conftest import create_organization, login, snap

TEAM_MONTHLY, TEAM_ANNUAL, TEAM_METERED = "price_team_m_browser", "price_team_y_browser", "price_ai"


def _sell_team_plan(platform) -> None:
    """The team plan with Stripe prices, at the local Stripe and in the platform."""
    stripe = platform.stripe
    stripe.price_create(TEAM_MONTHLY, unit_amount=4900)
    stripe.price_create(TEAM_ANNUAL, unit_amount=49000, interval="year")
    stripe.price_create(TEAM_METERED, usage_type="metered")
    platform.shell(
        f"""
from billing.models import Plan
Plan.objects.filter(code="team").update(
    stripe_price_monthly={TEAM_MONTHLY!r},
    stripe_price_annual={TEAM_ANNUAL!r},
    stripe_price_metered={TEAM_METERED!r},
    price_monthly_cents=4900,
    price_annual_cents=49000,
)
"""
    )


def test_admin_upgrades_through_checkout(platform, new_page):
    _sell_team_plan(platform)
    vandelay = create_organization(platform, "vandelay", "Vandelay Industries")
    page = new_page()
    login(page, vandelay, "admin")
    page.goto(f"{vandelay.url}/billing")
    expect(page.get_by_test_id("billing-plan")).to_have_text("Free")
    expect(page.get_by_test_id("billing-state")).to_have_text("No subscription")
    team = page.get_by_test_id("plan-team")
    expect(team).to_contain_text("$49.00 / month")
    snap(page, "billing-before-checkout")

    team.get_by_role("button", name="Choose").click()
    # Stripe's hosted page (the local Stripe's), on its own origin.
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/c/pay/cs_test_"))
    expect(page.get_by_role("heading", name="Pay")).to_be_visible()
    page.get_by_role("button", name="Pay and subscribe").click()

    # Back on the dashboard; the plan is the webhook's doing, not the redirect's.
    expect(page).to_have_url(f"{vandelay.url}/billing?checkout=success")
    expect(page.get_by_test_id("billing-state")).to_have_text("Active", timeout=30_000)
    expect(page.get_by_test_id("billing-plan")).to_have_text("Team")
    expect(page.get_by_test_id("plan-team")).to_contain_text("Current")
    expect(page.get_by_test_id("billing-pending")).to_have_count(0)
    expect(page.get_by_test_id("billing-portal")).to_be_visible()
    snap(page, "billing-after-checkout")

    # What the page shows is what the platform stored: the organization's plan and the
    # mirrored subscription, from the events the local Stripe signed and delivered.
    out = platform.shell(
        """
from billing.models import Subscription
from users.models import Organization
organization = Organization.objects.get(schema_name="vandelay")
subscription = Subscription.objects.get(organization=organization)
print("STATE", organization.plan, subscription.status)
"""
    )
    assert "STATE team active" in out, out
