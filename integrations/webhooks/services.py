"""Outbound webhooks: endpoints, fan-out of platform events, signed deliveries.

A platform event (core.events) is turned into one delivery per subscribed endpoint
by a Celery task; each delivery is POSTed through the outbound HTTP policy
(core/outbound.py: private addresses refused, DNS pinned, no redirects), signed per
the Standard Webhooks spec with the endpoint's secret. A delivery that does not get
a 2xx is retried on ``WEBHOOK_RETRY_SCHEDULE`` (about a day); an endpoint whose every
attempt failed for ``WEBHOOK_DISABLE_AFTER_SECONDS`` and at least
``WEBHOOK_DISABLE_AFTER_FAILURES`` times in a row is disabled and its organization's
admins get an e-mail. Attempts hold a lease on their row, so a task delivered twice
(or the sweep racing the first attempt) sends once.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import crypto, outbound
from core.access import Role
from integrations.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from integrations.webhooks import catalogue
from users.models import Membership, Organization

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 2000
USER_AGENT = "AssistantPlatform-Webhooks/1"


# -- endpoints ------------------------------------------------------------------------


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return crypto.decrypt(endpoint.secret_encrypted)


def _clean_url(url: str) -> str:
    try:
        outbound.validate_url(url)
    except outbound.InvalidURL as exc:
        raise ValidationError({"url": [str(exc)]}) from None
    return url


def _clean_events(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - catalogue.subscribable())
    if unknown:
        raise ValidationError({"event_types": [f"Unknown event type: {t}." for t in unknown]})
    if not event_types:
        raise ValidationError({"event_types": ["Subscribe to at least one event type."]})
    return sorted(set(event_types))


@transaction.atomic
def endpoint_create(
    *, organization, url: str, event_types: list[str], description: str = "", actor: Actor
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; returns it with its signing secret (shown to the admin once)."""
    if (
        WebhookEndpoint.objects.filter(organization=organization).count()
        >= settings.WEBHOOK_MAX_ENDPOINTS
    ):
        raise ValidationError(
            {
                "url": [
                    f"An organization may have at most {settings.WEBHOOK_MAX_ENDPOINTS} endpoints."
                ]
            }
        )
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=_clean_url(url),
        event_types=_clean_events(event_types),
        description=description,
        secret_encrypted=crypto.encrypt(secret),
        created_by=actor.user,
    )
    audit_record(
        actor=actor,
        action=AuditAction.WEBHOOK_CREATED,
        target=endpoint,
        changes={"url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, actor: Actor, **fields) -> WebhookEndpoint:
    """Change url, description, event_types or is_active. Enabling a disabled endpoint
    clears its failure streak."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    changes = {}
    if "url" in fields and fields["url"] != endpoint.url:
        endpoint.url = _clean_url(fields["url"])
        changes["url"] = endpoint.url
    if "event_types" in fields:
        event_types = _clean_events(fields["event_types"])
        if event_types != endpoint.event_types:
            endpoint.event_types = changes["event_types"] = event_types
    if "description" in fields and fields["description"] != endpoint.description:
        endpoint.description = changes["description"] = fields["description"]
    if "is_active" in fields and fields["is_active"] != endpoint.is_active:
        endpoint.is_active = changes["is_active"] = bool(fields["is_active"])
        if endpoint.is_active:
            endpoint.disabled_at, endpoint.disabled_reason = None, ""
            endpoint.failing_since, endpoint.consecutive_failures = None, 0
        else:
            endpoint.disabled_at, endpoint.disabled_reason = timezone.now(), "Disabled by an admin."
    if changes:
        endpoint.save()
        audit_record(
            actor=actor, action=AuditAction.WEBHOOK_UPDATED, target=endpoint, changes=changes
        )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    audit_record(actor=actor, action=AuditAction.WEBHOOK_DELETED, target=endpoint)
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Actor) -> str:
    """A new secret at once (the old one stops signing); returns it."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = _new_secret()
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.WEBHOOK_UPDATED,
        target=endpoint,
        changes={"secret": "rotated"},
    )
    return secret


# -- fan-out ----------------------------------------------------------------------------


def _envelope(*, type: str, occurred_at: str, data: dict) -> dict:
    return {"type": type, "timestamp": occurred_at, "data": data}


def _subscribed(organization_id, event_type: str):
    return WebhookEndpoint.objects.filter(
        organization_id=organization_id, is_active=True, event_types__contains=[event_type]
    )


def organization_has_subscribers(*, schema_name: str, event_type: str) -> bool:
    """Cheap check before a task is queued for an event nobody listens to."""
    return WebhookEndpoint.objects.filter(
        organization__schema_name=schema_name,
        is_active=True,
        event_types__contains=[event_type],
    ).exists()


def deliveries_create(
    *, schema_name: str, event_id: str, event_type: str, occurred_at: str, data: dict
) -> list[WebhookDelivery]:
    """One delivery per active endpoint subscribed to the event; running it twice adds
    nothing (one delivery per endpoint and event id). The attempts are queued after
    commit."""
    organization = Organization.objects.filter(schema_name=schema_name).first()
    if organization is None:
        return []
    body = _envelope(type=event_type, occurred_at=occurred_at, data=data)
    created = []
    with transaction.atomic():
        for endpoint in _subscribed(organization.pk, event_type):
            delivery, new = WebhookDelivery.objects.get_or_create(
                endpoint=endpoint,
                event_id=event_id,
                defaults={
                    "organization": organization,
                    "event_type": event_type,
                    "payload": body,
                    "max_attempts": len(settings.WEBHOOK_RETRY_SCHEDULE) + 1,
                    "next_attempt_at": timezone.now(),
                },
            )
            if new:
                created.append(delivery)
        ids = [str(d.pk) for d in created]
        transaction.on_commit(lambda: _queue(ids))
    return created


def _queue(delivery_ids: list[str]) -> None:
    # By name: the task module imports this one.
    for delivery_id in delivery_ids:
        try:
            current_app.send_task("integrations.webhook_deliver", args=[delivery_id])
        except Exception:  # the broker away: the sweep sends it (next_attempt_at is due)
            logger.warning("webhook delivery %s not queued; the sweep will send it", delivery_id)


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookDelivery:
    """A ``webhook.test`` delivery to this endpoint now (even if not subscribed to it)."""
    event_id = f"evt_{uuid.uuid4().hex}"
    body = _envelope(
        type=catalogue.TEST_EVENT,
        occurred_at=timezone.now().isoformat(),
        data={"endpoint_id": str(endpoint.pk), "message": "A test event from the dashboard."},
    )
    delivery = WebhookDelivery.objects.create(
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        event_id=event_id,
        event_type=catalogue.TEST_EVENT,
        payload=body,
        max_attempts=1,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _queue([str(delivery.pk)]))
    return delivery


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """One more attempt now, with the same message id (a receiver that already has it
    can drop it); no automatic retries after it."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.max_attempts = delivery.attempts + 1
    delivery.next_attempt_at = timezone.now()
    delivery.locked_until = None
    delivery.save(update_fields=["status", "max_attempts", "next_attempt_at", "locked_until"])
    audit_record(
        actor=actor,
        action=AuditAction.WEBHOOK_REDELIVERED,
        target=delivery,
        target_type="webhookdelivery",
        changes={"endpoint": str(delivery.endpoint_id), "event_id": delivery.event_id},
    )
    transaction.on_commit(lambda: _queue([str(delivery.pk)]))
    return delivery


# -- one attempt ------------------------------------------------------------------------


def _claim(delivery_id) -> WebhookDelivery | None:
    """Take the attempt's lease, or None when it is not due, done or leased elsewhere."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status__in=[WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING],
            next_attempt_at__lte=now,
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=lease)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint", "organization").get(pk=delivery_id)


def sign(*, secret: str, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    signature = Webhook(secret).sign(msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _post(url: str, headers: dict, body: str) -> tuple[int | None, str, str]:
    """(status, response excerpt, error) of one POST through the outbound policy."""
    try:
        with (
            outbound.client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as http,
            http.stream("POST", url, content=body.encode(), headers=headers) as response,
        ):
            received = b""
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) > EXCERPT_CHARS * 4:
                    break
            text = received.decode("utf-8", "replace")
            return response.status_code, _excerpt(text), ""
    except outbound.UnreachableAddress as exc:
        logger.info("webhook to %s unreachable: %s", url, exc.reason)
        return None, "", outbound.UNREACHABLE_MESSAGE
    except Exception as exc:  # timeouts, resets: the attempt failed, the retry may not
        logger.info("webhook to %s failed: %r", url, exc)
        return None, "", f"{type(exc).__name__}: the request did not complete."[:300]


def delivery_attempt(*, delivery_id) -> WebhookDelivery | None:
    """Send one attempt of a due delivery and record it; None when there was nothing
    to send (already done, not due, or leased by another worker)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    now = timezone.now()
    if not endpoint.is_active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDeliveryStatus.FAILED,
            error="The endpoint is disabled.",
            next_attempt_at=None,
            locked_until=None,
        )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    msg_id = f"msg_{delivery.event_id.removeprefix('evt_')}"
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **sign(secret=endpoint_secret(endpoint), msg_id=msg_id, timestamp=now, body=body),
    }
    started = time.perf_counter()
    status, response_text, error = _post(endpoint.url, headers, body)
    duration = int((time.perf_counter() - started) * 1000)
    shown = {k: v for k, v in headers.items() if k != "webhook-signature"}
    request_excerpt = _excerpt(
        "\n".join(f"{k}: {v}" for k, v in shown.items()) + "\nwebhook-signature: v1,…\n\n" + body
    )
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok and not error:
        error = f"The endpoint answered {status}."
    return _record(
        delivery=delivery,
        ok=ok,
        status=status,
        duration=duration,
        request_excerpt=request_excerpt,
        response_excerpt=response_text,
        error=error,
    )


@transaction.atomic
def _record(*, delivery, ok, status, duration, request_excerpt, response_excerpt, error):
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = status
    delivery.duration_ms = duration
    delivery.request_excerpt = request_excerpt
    delivery.response_excerpt = response_excerpt
    delivery.error = error[:300]
    delivery.locked_until = None
    if ok:
        delivery.status = WebhookDeliveryStatus.SUCCEEDED
        delivery.next_attempt_at = None
    elif delivery.attempts < delivery.max_attempts:
        schedule = settings.WEBHOOK_RETRY_SCHEDULE
        wait = schedule[min(delivery.attempts - 1, len(schedule) - 1)]
        delivery.status = WebhookDeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=wait)
    else:
        delivery.status = WebhookDeliveryStatus.FAILED
        delivery.next_attempt_at = None
    delivery.save()
    _endpoint_track(endpoint_id=delivery.endpoint_id, ok=ok, now=now)
    return delivery


def _endpoint_track(*, endpoint_id, ok: bool, now) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if ok:
        if endpoint.failing_since or endpoint.consecutive_failures:
            endpoint.failing_since, endpoint.consecutive_failures = None, 0
            endpoint.save(update_fields=["failing_since", "consecutive_failures"])
        return
    endpoint.failing_since = endpoint.failing_since or now
    endpoint.consecutive_failures += 1
    sustained = now - endpoint.failing_since >= timedelta(
        seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS
    )
    if (
        endpoint.is_active
        and sustained
        and endpoint.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES
    ):
        endpoint.is_active = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = (
            f"Every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
            f"({endpoint.consecutive_failures} attempts)."
        )
        transaction.on_commit(lambda: _disabled_notify(endpoint_id=endpoint.pk))
    endpoint.save()


def _disabled_notify(*, endpoint_id) -> None:
    endpoint = WebhookEndpoint.objects.select_related("organization").get(pk=endpoint_id)
    organization = endpoint.organization
    admins = list(
        Membership.objects.filter(organization=organization, role=Role.ADMIN).values_list(
            "user__email", flat=True
        )
    )
    if not admins:
        return
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Webhook endpoint disabled",
        message=(
            f"The webhook endpoint {endpoint.url} of {organization.name} was disabled: "
            f"{endpoint.disabled_reason}\n\n"
            f"Fix the receiver, then enable it again on the Webhooks page: "
            f"{organization.url}/webhooks\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=admins,
    )


def deliveries_due(*, limit: int = 500) -> list[str]:
    """Ids of deliveries whose next attempt is due and not leased (for the sweep)."""
    now = timezone.now()
    return [
        str(pk)
        for pk in WebhookDelivery.objects.filter(
            status__in=[WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING],
            next_attempt_at__lte=now,
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]
