"""Stripe's webhook endpoint (public host). Not a DRF view: the signature covers the
raw body, and Stripe is the only caller (no session, no CSRF token)."""

import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.webhooks import InvalidWebhook, event_receive
from core.api.errors import error_body

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    if not settings.STRIPE_WEBHOOK_SECRET:
        return JsonResponse(
            error_body("billing_not_configured", "Stripe webhooks are not configured."),
            status=503,
        )
    try:
        _event, created = event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except InvalidWebhook as error:
        logger.warning("stripe webhook refused: %s", error)
        return JsonResponse(
            error_body("invalid_signature", "The Stripe signature does not verify."), status=400
        )
    return JsonResponse({"received": True, "duplicate": not created})
