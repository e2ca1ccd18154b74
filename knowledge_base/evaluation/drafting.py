"""Test questions drafted by the organization's model from the collection's chunks.

One chunk per question, spread over the collection's documents; the model is asked for a
question that the passage answers, and the question is stored unapproved
(``source = drafted``) with the chunk's document as the one that answers it. A person
reads it, edits it if needed and approves it; only then does it count in a run. Every
call goes through the AI gateway (usage and cost recorded, provider errors as domain
errors)."""

from __future__ import annotations

from django.db import transaction

from assistants import gateway
from assistants.catalog.models import AIModel, AnswerMode
from assistants.providers.base import ChatMessage, ChatRequest
from assistants.providers.errors import ProviderError, as_domain_error
from audit.models import AuditAction
from audit.services import Actor, audit_record
from billing.models import Channel
from core import errors
from core.lookups import person
from core.tenancy import current_organization, require_tenant_schema
from knowledge_base.evaluation.parsing import MAX_QUESTION_CHARS
from knowledge_base.evaluation.services import check_capacity
from knowledge_base.models import (
    Collection,
    DocumentChunk,
    DocumentStatus,
    EvaluationJudgement,
    EvaluationQuestion,
    QuestionSource,
)

MAX_DRAFTS = 10  # per request: each is one model call, made while the request waits
PASSAGE_CHARS = 4000

PROMPT = (
    "You write test questions for a search engine. Given a passage from a document, write "
    "ONE question that a user could ask and that this passage answers. Use the user's "
    "words, not the passage's exact phrasing. Reply with the question only."
)


def _chunks(collection: Collection, count: int) -> list[DocumentChunk]:
    """``count`` chunks, one per document as far as they go (the first of each, the
    longest documents' next ones after), of completed documents only."""
    chunks = (
        DocumentChunk.objects.filter(
            collection=collection, document__status=DocumentStatus.COMPLETED
        )
        .select_related("document")
        .only("id", "content", "index", "document__id", "document__title")
        .order_by("index", "document_id")[: count * 5]
    )
    seen: set = set()
    first, rest = [], []
    for chunk in chunks:
        (rest if chunk.document_id in seen else first).append(chunk)
        seen.add(chunk.document_id)
    return (first + rest)[:count]


def _question(text: str) -> str:
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    return line.strip('"').strip()[:MAX_QUESTION_CHARS]


def questions_draft(
    *, collection: Collection, model: AIModel, count: int = 5, user=None, actor: Actor | None = None
) -> list[EvaluationQuestion]:
    """Draft up to ``count`` questions with ``model`` (unapproved, for review)."""
    require_tenant_schema()
    if not 1 <= count <= MAX_DRAFTS:
        raise errors.ValidationFailed(fields={"count": [f"Between 1 and {MAX_DRAFTS}."]})
    if model.answer_mode == AnswerMode.EXTRACTIVE:
        raise errors.ValidationFailed(
            fields={"model": ["This model quotes passages; choose a model that writes text."]}
        )
    check_capacity(collection, count)
    chunks = _chunks(collection, count)
    if not chunks:
        raise errors.Conflict("The collection has no processed documents to draft from.")
    context = gateway.UsageContext(
        organization=current_organization(), user=person(user), channel=Channel.WEB
    )
    drafts = []
    for chunk in chunks:  # the model calls happen outside any transaction
        request = ChatRequest(
            model=model.model_id,
            system=PROMPT,
            messages=[
                ChatMessage(
                    "user", f"Document: {chunk.document.title}\n\n{chunk.content[:PASSAGE_CHARS]}"
                )
            ],
            temperature=0.3,
            max_tokens=120,
        )
        try:
            priced = gateway.ai_chat_complete(model=model, request=request, context=context)
        except ProviderError as error:
            raise as_domain_error(error) from error
        text = _question(priced.result.text)
        if text:
            drafts.append((text, chunk.document))
    with transaction.atomic():
        questions = []
        for text, document in drafts:
            question = EvaluationQuestion.objects.create(
                collection=collection,
                text=text,
                source=QuestionSource.DRAFTED,
                approved=False,
                created_by=person(user),
            )
            EvaluationJudgement.objects.create(question=question, document=document)
            questions.append(question)
        audit_record(
            actor=actor,
            action=AuditAction.EVALUATION_QUESTIONS_DRAFTED,
            target=collection,
            changes={"model": [None, model.key], "questions": [None, len(questions)]},
        )
    return questions


@transaction.atomic
def question_review(
    *,
    question: EvaluationQuestion,
    text: str | None = None,
    approved: bool | None = None,
    actor: Actor | None = None,
) -> EvaluationQuestion:
    """A person's review of a question: its wording corrected, approved (it then counts
    in runs) or set aside."""
    require_tenant_schema()
    before = {"text": question.text, "approved": question.approved}
    if text is not None:
        if not text.strip():
            raise errors.ValidationFailed(fields={"text": ["Write the question."]})
        question.text = text.strip()[:MAX_QUESTION_CHARS]
    if approved is not None:
        question.approved = approved
    question.save(update_fields=["text", "approved"])
    after = {"text": question.text, "approved": question.approved}
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        audit_record(
            actor=actor,
            action=AuditAction.EVALUATION_QUESTION_REVIEWED,
            target=question,
            changes=changes,
        )
    return question
