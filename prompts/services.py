"""Writes of prompt templates: create, new versions, publish/rollback, uses, import."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Max

from audit.models import AuditAction
from audit.services import Actor, audit_record, field_changes
from core.errors import ValidationFailed
from core.lookups import person
from core.tenancy import require_tenant_schema
from prompts import rendering
from prompts.models import PromptTemplate, PromptUse, PromptVersion, UseSource, Visibility

TEMPLATE_FIELDS = ("name", "description", "category", "tags", "visibility")
EXPORT_FORMAT = "prompt-template/v1"


def _check_template_fields(fields: dict) -> dict:
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={name: ["Unknown field."] for name in sorted(unknown)})
    problems = {}
    if "name" in fields and not str(fields["name"] or "").strip():
        problems["name"] = ["A name is required."]
    if "visibility" in fields and fields["visibility"] not in Visibility.values:
        problems["visibility"] = [f"One of: {', '.join(Visibility.values)}."]
    tags = fields.get("tags")
    if tags is not None and (
        not isinstance(tags, list)
        or len(tags) > 20
        or not all(isinstance(t, str) and 0 < len(t) <= 40 for t in tags)
    ):
        problems["tags"] = ["Up to 20 tags of 1 to 40 characters."]
    if problems:
        raise ValidationFailed(fields=problems)
    if "tags" in fields:
        fields["tags"] = sorted({t.strip().lower() for t in fields["tags"] if t.strip()})
    return fields


def _check_hints(model_hints) -> dict:
    if model_hints in (None, ""):
        return {}
    if not isinstance(model_hints, dict) or set(model_hints) - {
        "model",
        "temperature",
        "max_tokens",
    }:
        raise ValidationFailed(
            fields={"model_hints": ["Only model, temperature and max_tokens may be hinted."]}
        )
    problems = []
    if "model" in model_hints and not isinstance(model_hints["model"], str):
        problems.append("model is a 'provider/model_id' text.")
    temperature = model_hints.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        problems.append("temperature is a number from 0 to 2.")
    max_tokens = model_hints.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= 32000
    ):
        problems.append("max_tokens is a whole number from 1 to 32000.")
    if problems:
        raise ValidationFailed(fields={"model_hints": problems})
    return model_hints


@transaction.atomic
def template_create(
    *,
    user,
    body: str,
    variables: list | None = None,
    model_hints: dict | None = None,
    note: str = "",
    publish: bool = True,
    actor: Actor | None = None,
    **fields,
) -> PromptTemplate:
    """A template with its first version (published unless asked otherwise)."""
    require_tenant_schema()
    fields = _check_template_fields(fields)
    if "name" not in fields:
        raise ValidationFailed(fields={"name": ["A name is required."]})
    template = PromptTemplate.objects.create(created_by=person(user), **fields)
    version = _version_add(
        template=template,
        user=user,
        body=body,
        variables=variables or [],
        model_hints=model_hints,
        note=note or "First version",
    )
    if publish:
        template.published_version = version
        template.save(update_fields=["published_version", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.PROMPT_CREATED,
        target=template,
        changes=field_changes({}, {name: getattr(template, name) for name in TEMPLATE_FIELDS}),
    )
    return template


@transaction.atomic
def template_update(*, template: PromptTemplate, actor: Actor | None = None, **fields):
    """Name, description, category, tags, visibility: the text changes by new versions."""
    fields = _check_template_fields(fields)
    before = {name: getattr(template, name) for name in TEMPLATE_FIELDS}
    for name, value in fields.items():
        setattr(template, name, value)
    template.save()
    changes = field_changes(before, {name: getattr(template, name) for name in TEMPLATE_FIELDS})
    if changes:
        audit_record(
            actor=actor, action=AuditAction.PROMPT_UPDATED, target=template, changes=changes
        )
    return template


@transaction.atomic
def template_delete(*, template: PromptTemplate, actor: Actor | None = None) -> None:
    audit_record(actor=actor, action=AuditAction.PROMPT_DELETED, target=template)
    template.delete()


def _version_add(*, template, user, body, variables, model_hints, note) -> PromptVersion:
    if not isinstance(body, str) or not body.strip():
        raise ValidationFailed(fields={"body": ["The body is empty."]})
    if not isinstance(note, str) or len(note) > 300:
        raise ValidationFailed(fields={"note": ["At most 300 characters."]})
    variables = rendering.check_variables(variables)
    rendering.check_body(body, variables)
    hints = _check_hints(model_hints)
    # Under the template's row lock: two saves at once get consecutive numbers.
    PromptTemplate.objects.select_for_update().filter(pk=template.pk).first()
    number = (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return PromptVersion.objects.create(
        template=template,
        number=number,
        body=body,
        variables=variables,
        model_hints=hints,
        note=note,
        created_by=person(user),
    )


@transaction.atomic
def version_create(
    *,
    template: PromptTemplate,
    user,
    body: str,
    variables: list | None = None,
    model_hints: dict | None = None,
    note: str = "",
    publish: bool = False,
    actor: Actor | None = None,
) -> PromptVersion:
    version = _version_add(
        template=template,
        user=user,
        body=body,
        variables=variables or [],
        model_hints=model_hints,
        note=note,
    )
    audit_record(
        actor=actor,
        action=AuditAction.PROMPT_VERSION_SAVED,
        target=template,
        changes={"version": [None, version.number]},
    )
    if publish:
        version_publish(version=version, actor=actor)
    template.save(update_fields=["updated_at"])
    return version


@transaction.atomic
def version_publish(*, version: PromptVersion, actor: Actor | None = None) -> PromptTemplate:
    """Publish ``version``: a newer one to go forward, an older one to roll back."""
    template = PromptTemplate.objects.select_for_update().get(pk=version.template_id)
    before = template.published_version.number if template.published_version_id else None
    if template.published_version_id != version.pk:
        template.published_version = version
        template.save(update_fields=["published_version", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.PROMPT_PUBLISHED,
            target=template,
            changes={"published_version": [before, version.number]},
        )
    return template


def version_render(*, version: PromptVersion, values: dict) -> str:
    """The version's body with ``values`` (field errors name the variable)."""
    return rendering.render_prompt(body=version.body, variables=version.variables, values=values)


def use_record(
    *,
    version: PromptVersion,
    source: str,
    source_id: str = "",
    usage_record=None,
    tokens: int = 0,
    cost: Decimal | None = None,
) -> PromptUse:
    """Count one use of ``version``; with the ledger row of the AI call it fed, its
    tokens and cost (copied from the ledger, so the figures agree with billing)."""
    if usage_record is not None:
        tokens, cost = usage_record.total_tokens, usage_record.cost
    return PromptUse.objects.create(
        version=version,
        source=UseSource(source),
        source_id=str(source_id)[:64],
        usage_record_id=getattr(usage_record, "pk", None),
        tokens=tokens or 0,
        cost=cost or Decimal("0"),
    )


# -- import / export -----------------------------------------------------------------


def template_export(*, template: PromptTemplate) -> dict:
    """Every version, oldest first, and which one is published: JSON for ``import``."""
    versions = list(template.versions.order_by("number"))
    return {
        "format": EXPORT_FORMAT,
        "name": template.name,
        "description": template.description,
        "category": template.category,
        "tags": template.tags,
        "visibility": template.visibility,
        "published_version": template.published_version.number
        if template.published_version_id
        else None,
        "versions": [
            {
                "number": v.number,
                "body": v.body,
                "variables": v.variables,
                "model_hints": v.model_hints,
                "note": v.note,
            }
            for v in versions
        ],
    }


@transaction.atomic
def template_import(*, data, user, actor: Actor | None = None) -> PromptTemplate:
    """A new template from an export: every version checked like a new one, in order,
    numbered from 1; the one published in the export is published here."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValidationFailed(fields={"format": [f"Expected '{EXPORT_FORMAT}'."]})
    versions = data.get("versions")
    if not isinstance(versions, list) or not versions or len(versions) > 200:
        raise ValidationFailed(fields={"versions": ["1 to 200 versions are required."]})
    if not all(isinstance(v, dict) for v in versions):
        raise ValidationFailed(fields={"versions": ["Each version is an object."]})
    fields = {name: data[name] for name in TEMPLATE_FIELDS if name in data}
    first, *rest = versions
    try:
        template = template_create(
            user=user,
            body=first.get("body"),
            variables=first.get("variables") or [],
            model_hints=first.get("model_hints"),
            note=first.get("note") or "",
            publish=False,
            actor=actor,
            **fields,
        )
        numbers = {first.get("number", 1): template.versions.get()}
        for index, entry in enumerate(rest, start=2):
            numbers[entry.get("number", index)] = _version_add(
                template=template,
                user=user,
                body=entry.get("body"),
                variables=entry.get("variables") or [],
                model_hints=entry.get("model_hints"),
                note=entry.get("note") or "",
            )
    except ValidationFailed as error:
        raise ValidationFailed(
            "A version of the import is invalid.",
            fields={f"versions.{k}": v for k, v in error.fields.items()},
        ) from None
    published = numbers.get(data.get("published_version")) or list(numbers.values())[-1]
    template.published_version = published
    template.save(update_fields=["published_version", "updated_at"])
    return template
