"""Reads of prompt templates: what a caller may see, versions, diffs and usage."""

from __future__ import annotations

import difflib
from decimal import Decimal

from django.db.models import Count, DecimalField, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from core.lookups import parse_uuid, person
from core.tenancy import require_tenant_schema
from prompts.models import PromptTemplate, PromptVersion, Visibility


def template_list(
    *, user, search: str = "", category: str = "", tag: str = ""
) -> QuerySet[PromptTemplate]:
    """The templates ``user`` may see: the organization's shared ones and their own
    private ones (a program with an API key sees the shared ones only)."""
    require_tenant_schema()
    author = person(user)
    visible = Q(visibility=Visibility.ORGANIZATION)
    if author is not None:
        visible |= Q(created_by_id=author.pk)
    templates = PromptTemplate.objects.filter(visible).select_related("published_version")
    if search:
        templates = templates.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if category:
        templates = templates.filter(category=category)
    if tag:
        templates = templates.filter(tags__contains=[tag.lower()])
    return templates


def template_get(*, template_id, user) -> PromptTemplate:
    """Missing and not visible are the same: DoesNotExist (404)."""
    return template_list(user=user).get(id=parse_uuid(template_id))


def version_list(*, template: PromptTemplate) -> QuerySet[PromptVersion]:
    """Newest first, each with its uses, last use, tokens and cost (one query)."""
    return template.versions.annotate(
        use_count=Count("uses"),
        last_used_at=Max("uses__created_at"),
        used_tokens=Coalesce(Sum("uses__tokens"), 0),
        used_cost=Coalesce(Sum("uses__cost"), Value(Decimal("0")), output_field=DecimalField()),
    ).order_by("-number")


def version_get(*, template: PromptTemplate, number) -> PromptVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise PromptVersion.DoesNotExist from None
    return template.versions.get(number=number)


def version_by_id(*, version_id) -> PromptVersion:
    """A version by id, whatever its template's visibility (a workflow or an assistant
    pinned it: it runs for everyone who may run them)."""
    require_tenant_schema()
    return PromptVersion.objects.select_related("template").get(id=parse_uuid(version_id))


def version_diff(*, old: PromptVersion, new: PromptVersion) -> dict:
    """A unified diff of the bodies and what changed in the variables and hints."""
    body = "".join(
        difflib.unified_diff(
            old.body.splitlines(keepends=True),
            new.body.splitlines(keepends=True),
            fromfile=f"v{old.number}",
            tofile=f"v{new.number}",
        )
    )
    old_vars = {v["name"]: v for v in old.variables}
    new_vars = {v["name"]: v for v in new.variables}
    return {
        "from_version": old.number,
        "to_version": new.number,
        "body": body,
        "variables_added": sorted(set(new_vars) - set(old_vars)),
        "variables_removed": sorted(set(old_vars) - set(new_vars)),
        "variables_changed": sorted(
            n for n in set(old_vars) & set(new_vars) if old_vars[n] != new_vars[n]
        ),
        "model_hints_changed": old.model_hints != new.model_hints,
    }


def with_usage(templates: QuerySet[PromptTemplate]) -> QuerySet[PromptTemplate]:
    """Annotated with uses, last use, tokens and cost (for lists: no query per row)."""
    return templates.annotate(
        use_count=Count("versions__uses"),
        last_used_at=Max("versions__uses__created_at"),
        used_tokens=Sum("versions__uses__tokens"),
        used_cost=Sum("versions__uses__cost"),
    ).order_by("name", "id")
