"""Writes: assistants and provider credentials (the "Test reply" is a chat turn: chat.services)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assistants import gateway
from assistants.catalog.models import AIModel, Provider
from assistants.models import Assistant, ProviderCredential, Reranker
from assistants.providers.errors import ProviderError
from assistants.providers.registry import get_provider
from audit.models import AuditAction
from audit.services import Actor, audit_record, field_changes
from core import crypto, outbound
from core.errors import ValidationFailed
from core.lookups import person
from core.tenancy import require_tenant_schema
from prompts import services as prompt_services

ASSISTANT_FIELDS = {
    "name",
    "description",
    "avatar",
    "model",
    "fallback_model",
    "system_instructions",
    "temperature",
    "top_p",
    "max_output_tokens",
    "retrieval_mode",
    "retrieval_top_k",
    "retrieval_min_score",
    "reranker",
    "rerank_candidates",
    "is_active",
    "instructions_version",
    "instructions_values",
    "suggested_questions",
}


# -- assistants ---------------------------------------------------------------


@transaction.atomic
def assistant_create(*, user, collections=None, actor: Actor | None = None, **fields) -> Assistant:
    require_tenant_schema()
    assistant = Assistant(created_by=person(user), **_only_assistant_fields(fields))
    _render_pinned_instructions(assistant)
    assistant.full_clean()
    assistant.save()
    if collections is not None:
        assistant.collections.set(collections)
    audit_record(
        actor=actor,
        action=AuditAction.ASSISTANT_CREATED,
        target=assistant,
        changes=field_changes({}, _audited(assistant)),
    )
    return assistant


@transaction.atomic
def assistant_update(
    *, assistant: Assistant, collections=None, actor: Actor | None = None, **fields
) -> Assistant:
    before = _audited(assistant)
    for name, value in _only_assistant_fields(fields).items():
        setattr(assistant, name, value)
    _render_pinned_instructions(assistant)
    assistant.full_clean()
    assistant.save()
    if collections is not None:
        assistant.collections.set(collections)
    changes = field_changes(before, _audited(assistant))
    if changes:
        audit_record(
            actor=actor, action=AuditAction.ASSISTANT_UPDATED, target=assistant, changes=changes
        )
    return assistant


@transaction.atomic
def assistant_delete(*, assistant: Assistant, actor: Actor | None = None) -> None:
    audit_record(actor=actor, action=AuditAction.ASSISTANT_DELETED, target=assistant)
    assistant.delete()


def _render_pinned_instructions(assistant: Assistant) -> None:
    """With a pinned template version, its rendering (with the assistant's values) is the
    system instructions: the version never changes, so the text is rendered once here.
    Field errors name the value (``instructions_values.<name>``)."""
    version = assistant.instructions_version
    if version is None:
        return
    try:
        assistant.system_instructions = prompt_services.version_render(
            version=version, values=assistant.instructions_values or {}
        )
    except ValidationFailed as error:
        raise ValidationError(
            {
                name.replace("values.", "instructions_values.", 1): messages
                for name, messages in error.fields.items()
            }
        ) from None


def _audited(assistant: Assistant) -> dict:
    values = {name: getattr(assistant, name) for name in ASSISTANT_FIELDS if name != "avatar"}
    values["model"] = assistant.model.key if assistant.model_id else None
    values["fallback_model"] = assistant.fallback_model.key if assistant.fallback_model_id else None
    values["reranker"] = str(assistant.reranker_id) if assistant.reranker_id else None
    values["collections"] = (
        [str(pk) for pk in assistant.collections.values_list("pk", flat=True)]
        if assistant.pk
        else []
    )
    return values


def _only_assistant_fields(fields: dict) -> dict:
    unknown = set(fields) - ASSISTANT_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    return fields


def assistants_create_defaults(*, user=None) -> list[Assistant]:
    """Starter assistants, created once: the offline extractive helpdesk always, and
    one assistant per provider the organization (or the platform) has a key for."""
    require_tenant_schema()
    created = []
    starters = [
        (
            "Help Center",
            Provider.LOCAL,
            "extractive",
            "Answers from your knowledge base by quoting the most relevant passages, with "
            "sources. Works offline with no AI provider key.",
            [
                "What can you answer from our documents?",
                "How do I get a refund?",
                "Who do I contact for support?",
            ],
        ),
        (
            "Writing Assistant",
            Provider.OPENAI,
            "gpt-4o-mini",
            "Drafts and edits text.",
            ["Draft a friendly reply to a customer", "Make this paragraph shorter and clearer"],
        ),
        (
            "Research Assistant",
            Provider.ANTHROPIC,
            "claude-haiku-4-5",
            "Reads and summarises.",
            [
                "Summarise our documents on this topic",
                "What are the key points and open questions?",
            ],
        ),
        (
            "Quick Answers",
            Provider.GOOGLE,
            "gemini-2.5-flash",
            "Fast, inexpensive answers.",
            ["Explain this term in one sentence", "Give me three ideas for a team meeting"],
        ),
    ]
    for name, provider, model_id, description, questions in starters:
        model = AIModel.objects.available().filter(provider=provider, model_id=model_id).first()
        if model is None or Assistant.objects.filter(name=name).exists():
            continue
        if provider != Provider.LOCAL and not _has_credential(provider):
            continue
        created.append(
            assistant_create(
                user=user,
                name=name,
                description=description,
                model=model,
                system_instructions="Answer from the provided sources and cite them as [n].",
                max_output_tokens=min(1024, model.max_output_tokens or 1024),
                suggested_questions=questions,
            )
        )
    return created


def _has_credential(provider: str) -> bool:
    try:
        gateway.provider_config_for(provider=provider)
    except ProviderError:
        return False
    return True


# -- provider credentials -----------------------------------------------------


def _require_usable(provider: str, api_key: str, base_url: str) -> None:
    if base_url:
        try:
            outbound.validate_url(base_url)
        except outbound.InvalidURL as exc:
            raise ValidationError({"base_url": [str(exc)]}) from None
    if provider == Provider.OPENAI_COMPATIBLE:
        if not base_url:
            raise ValidationError({"base_url": ["An OpenAI-compatible server needs its base URL."]})
    elif not api_key:
        raise ValidationError({"api_key": ["An API key is required for this provider."]})


@transaction.atomic
def credential_create(
    *,
    provider: str,
    api_key: str = "",
    base_url: str = "",
    organization_id: str = "",
    user=None,
    actor: Actor | None = None,
) -> ProviderCredential:
    require_tenant_schema()
    if ProviderCredential.objects.filter(provider=provider).exists():
        raise ValidationError(
            {"provider": ["A credential for this provider exists; update it instead."]}
        )
    _require_usable(provider, api_key, base_url)
    credential = ProviderCredential(
        provider=provider,
        base_url=base_url,
        organization_id=organization_id,
        created_by=person(user),
    )
    _set_key(credential, api_key)
    credential.full_clean()
    credential.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREDENTIAL_CREATED,
        target=credential,
        changes={
            "provider": [None, provider],
            "api_key": [None, _masked(credential)],
            "base_url": [None, base_url],
        },
    )
    return credential


@transaction.atomic
def credential_update(
    *, credential: ProviderCredential, actor: Actor | None = None, **fields
) -> ProviderCredential:
    changes = {}
    if "api_key" in fields:
        before = _masked(credential)
        _set_key(credential, fields.pop("api_key"))
        # Never the key itself: its last four characters, as the API shows them.
        changes["api_key"] = [before, _masked(credential)]
    for name in ("base_url", "organization_id"):
        if name in fields:
            value = fields.pop(name)
            if getattr(credential, name) != value:
                changes[name] = [getattr(credential, name), value]
            setattr(credential, name, value)
    if fields:
        raise ValidationError({name: ["This field cannot be changed."] for name in fields})
    _require_usable(credential.provider, credential.api_key_encrypted, credential.base_url)
    credential.last_tested_at = credential.last_test_ok = None
    credential.last_test_message = ""
    credential.full_clean()
    credential.save()
    audit_record(
        actor=actor, action=AuditAction.CREDENTIAL_UPDATED, target=credential, changes=changes
    )
    return credential


@transaction.atomic
def credential_delete(*, credential: ProviderCredential, actor: Actor | None = None) -> None:
    audit_record(actor=actor, action=AuditAction.CREDENTIAL_DELETED, target=credential)
    credential.delete()


def _masked(credential: ProviderCredential) -> str:
    if not credential.api_key_encrypted:
        return ""
    return f"…{credential.api_key_last4}" if credential.api_key_last4 else "set"


def _set_key(credential: ProviderCredential, api_key: str) -> None:
    api_key = (api_key or "").strip()
    credential.api_key_encrypted = crypto.encrypt(api_key) if api_key else ""
    credential.api_key_last4 = api_key[-4:] if len(api_key) >= 8 else ""


def credential_test(*, credential: ProviderCredential) -> ProviderCredential:
    """Ask the provider whether the key works (lists models; spends no tokens)."""
    config = gateway.provider_config_for(provider=credential.provider, credential=credential)
    try:
        result = get_provider(config).verify()
        ok, message = result.ok, result.message
    except ProviderError as error:
        ok, message = False, f"{type(error).__name__}: {error.user_message} {error.detail}"[:300]
    credential.last_tested_at = timezone.now()
    credential.last_test_ok = ok
    credential.last_test_message = message[:300]
    credential.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message"])
    return credential


@transaction.atomic
def credentials_rotate_key() -> int:
    """Re-encrypt every credential (and reranker key) of the current organization with
    the newest key."""
    require_tenant_schema()
    rotated = 0
    for model in (ProviderCredential, Reranker):
        for credential in model.objects.select_for_update().exclude(api_key_encrypted=""):
            credential.api_key_encrypted = crypto.rotate(credential.api_key_encrypted)
            credential.save(update_fields=["api_key_encrypted"])
            rotated += 1
    return rotated


# -- rerankers (ADR 0100) --------------------------------------------------------
# Configured like a provider credential: key encrypted, only its last four shown, the
# base URL checked by the outbound policy; audited with the credential actions.

RERANKER_FIELDS = ("name", "api_format", "base_url", "model")


def _reranker_checked(reranker: Reranker) -> None:
    try:
        outbound.validate_url(reranker.base_url)
    except outbound.InvalidURL as exc:
        raise ValidationError({"base_url": [str(exc)]}) from None
    if reranker.api_format == "cohere" and not reranker.model:
        raise ValidationError({"model": ["A Cohere-style reranker needs the model to use."]})
    duplicate = Reranker.objects.filter(name=reranker.name).exclude(pk=reranker.pk)
    if duplicate.exists():
        raise ValidationError({"name": ["A reranker with this name exists."]})


def _reranker_audited(reranker: Reranker) -> dict:
    values = {name: getattr(reranker, name) for name in RERANKER_FIELDS}
    values["api_key"] = _masked(reranker)
    return values


@transaction.atomic
def reranker_create(
    *,
    name: str,
    base_url: str,
    api_format: str = "cohere",
    model: str = "",
    api_key: str = "",
    user=None,
    actor: Actor | None = None,
) -> Reranker:
    require_tenant_schema()
    reranker = Reranker(
        name=name, api_format=api_format, base_url=base_url, model=model, created_by=person(user)
    )
    _set_key(reranker, api_key)
    _reranker_checked(reranker)
    reranker.full_clean()
    reranker.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREDENTIAL_CREATED,
        target=reranker,
        changes=field_changes({}, _reranker_audited(reranker)),
    )
    return reranker


@transaction.atomic
def reranker_update(*, reranker: Reranker, actor: Actor | None = None, **fields) -> Reranker:
    before = _reranker_audited(reranker)
    if "api_key" in fields:
        _set_key(reranker, fields.pop("api_key"))
    unknown = set(fields) - set(RERANKER_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    for name, value in fields.items():
        setattr(reranker, name, value)
    _reranker_checked(reranker)
    reranker.full_clean()
    reranker.save()
    changes = field_changes(before, _reranker_audited(reranker))
    if changes:
        audit_record(
            actor=actor, action=AuditAction.CREDENTIAL_UPDATED, target=reranker, changes=changes
        )
    return reranker


@transaction.atomic
def reranker_delete(*, reranker: Reranker, actor: Actor | None = None) -> None:
    """Assistants that used it stop reranking (their ``reranker`` becomes null)."""
    audit_record(actor=actor, action=AuditAction.CREDENTIAL_DELETED, target=reranker)
    reranker.delete()
