"""Recording audit events. Call inside the transaction that makes the change."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import AuditEvent
from core.tenancy import require_tenant_schema


@dataclass(frozen=True)
class Actor:
    """Who made a change: a user, or a program with an API key, and from where."""

    user: object | None = None  # users.models.User
    api_key: object | None = None  # integrations.models.APIKey
    ip_address: str | None = None

    @classmethod
    def from_request(cls, request) -> Actor:
        user = getattr(request, "user", None)
        api_key = getattr(request, "api_key", None)
        return cls(
            user=user if getattr(user, "pk", None) else None,
            api_key=api_key,
            ip_address=client_ip(request),
        )


SYSTEM = Actor()


def client_ip(request) -> str | None:
    """The client's address. Behind a proxy, uvicorn --proxy-headers puts the
    forwarded address in REMOTE_ADDR (only from trusted proxies)."""
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *, actor: Actor | None, action: str, target, target_type: str = "", changes: dict | None = None
) -> AuditEvent:
    require_tenant_schema()
    actor = actor or SYSTEM
    key = actor.api_key
    return AuditEvent.objects.create(
        action=action,
        actor=actor.user,
        actor_email=getattr(actor.user, "email", "") or "",
        api_key_id=getattr(key, "pk", None),
        api_key_label=f"{key.name} ({key.prefix})" if key is not None else "",
        target_type=target_type or target._meta.model_name,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        changes=changes or {},
        ip_address=actor.ip_address,
    )


def field_changes(before: dict, after: dict) -> dict:
    """``{field: [old, new]}`` for the values that differ (JSON-friendly)."""
    return {
        name: [_plain(before.get(name)), _plain(value)]
        for name, value in after.items()
        if _plain(before.get(name)) != _plain(value)
    }


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return sorted(_plain(v) for v in value)
    return str(getattr(value, "pk", value))
