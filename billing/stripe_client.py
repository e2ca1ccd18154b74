"""The one way to reach Stripe: the official SDK's client, built from settings.

``STRIPE_API_BASE`` points it elsewhere (the local Stripe server of the tests and
benchmarks); nothing else in the code knows Stripe's address.
"""

from __future__ import annotations

import stripe
from django.conf import settings

from billing.errors import BillingNotConfigured

_clients: dict[tuple, stripe.StripeClient] = {}


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    """A client for the configured key and address (one per process and setting:
    it holds a pool of connections)."""
    if not stripe_configured():
        raise BillingNotConfigured()
    key = (
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )
    client = _clients.get(key)
    if client is None:
        client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        )
        _clients[key] = client
    return client
