"""Invoices, read from Stripe (the invoice of record lives there)."""

from __future__ import annotations

from datetime import UTC, datetime

import stripe

from billing.errors import StripeUnavailable
from billing.models import StripeCustomer
from billing.stripe_client import stripe_client

MAX_INVOICES = 100


def invoice_list(*, organization) -> list[dict]:
    """The organization's latest invoices, newest first; none without a customer."""
    customer = StripeCustomer.objects.filter(organization=organization).first()
    if customer is None:
        return []
    try:
        page = (
            stripe_client()
            .v1.invoices.list(params={"customer": customer.customer_id, "limit": MAX_INVOICES})
            .to_dict()
        )
    except stripe.StripeError as error:
        raise StripeUnavailable() from error
    return [
        {
            "id": inv["id"],
            "number": inv.get("number") or "",
            "status": inv.get("status") or "",
            "currency": inv.get("currency") or "usd",
            "total_cents": inv.get("total") or 0,
            "amount_due_cents": inv.get("amount_due") or 0,
            "created": datetime.fromtimestamp(inv["created"], tz=UTC),
            "period_start": datetime.fromtimestamp(inv["period_start"], tz=UTC),
            "period_end": datetime.fromtimestamp(inv["period_end"], tz=UTC),
            "hosted_invoice_url": inv.get("hosted_invoice_url") or "",
            "invoice_pdf": inv.get("invoice_pdf") or "",
        }
        for inv in page["data"]
    ]
