"""Billing's domain errors (no HTTP here: core.api.errors maps them to statuses)."""

from core import errors


class BillingNotConfigured(errors.ServiceUnavailable):
    code = "billing_not_configured"
    message = "Billing is not set up on this platform (no Stripe key)."


class StripeUnavailable(errors.ProviderFailed):
    """Stripe answered with an error or not at all; nothing was changed on our side."""

    code = "stripe_unavailable"
    message = "Stripe could not be reached. Try again in a moment."


class NoStripeCustomer(errors.Conflict):
    code = "no_billing_account"
    message = "This organization has no billing account yet: choose a plan first."


class AlreadySubscribed(errors.Conflict):
    code = "already_subscribed"
    message = "This organization already has a subscription; change it instead."


class NotSubscribed(errors.Conflict):
    code = "not_subscribed"
    message = "This organization has no active subscription to change."
