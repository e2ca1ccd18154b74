"""Test questions of a collection and evaluation runs: the writes.

Questions are entered one by one or uploaded (CSV or JSONL, ``parsing.py``); each names
the documents that should answer it, by id or by exact title. A run is started here and
carried out by the task (``runs.py``)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import errors
from core.dependencies import require_broker
from core.lookups import person
from core.tenancy import require_tenant_schema
from knowledge_base.evaluation.parsing import MAX_QUESTION_CHARS, ParsedQuestion, parse_questions
from knowledge_base.evaluation.tasks import evaluation_run_task
from knowledge_base.models import (
    Collection,
    Document,
    EvaluationJudgement,
    EvaluationQuestion,
    EvaluationRun,
    EvaluationStatus,
    QuestionSource,
)
from knowledge_base.retrieval import MAX_TOP_K, SearchMode
from knowledge_base.retrieval.rerank import DEFAULT_CANDIDATES, MAX_CANDIDATES

logger = logging.getLogger(__name__)

MAX_QUESTIONS = 5_000  # per collection (SciFact's test split is 300, its train split 809)
MAX_DOCUMENTS_PER_QUESTION = 100
DEFAULT_MODES = [SearchMode.VECTOR.value, SearchMode.KEYWORD.value, SearchMode.HYBRID.value]
DEFAULT_TOP_KS = [10]
MAX_SETTINGS = 12  # modes x top_ks of one run


@dataclass(frozen=True)
class DocumentReference:
    """A document named by a question: its id or its exact title, and the grade."""

    reference: str
    grade: int = 1


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _documents_by_reference(
    collection: Collection, references: set[str]
) -> dict[str, Document | None]:
    """Each reference's document, by id or by exact title (None: unknown or a title
    several documents share)."""
    ids = {r for r in references if _is_uuid(r)}
    titles = references - ids
    found: dict[str, Document | None] = {}
    documents = Document.objects.filter(collection=collection).only("id", "title")
    for document in documents.filter(id__in=ids):
        found[str(document.id)] = document
    found.update({r: found[r.lower()] for r in ids if r.lower() in found})
    if titles:
        for document in documents.filter(title__in=titles):
            found[document.title] = None if document.title in found else document
    return {r: found.get(r) for r in references}


def check_capacity(collection: Collection, adding: int) -> None:
    existing = EvaluationQuestion.objects.filter(collection=collection).count()
    if existing + adding > MAX_QUESTIONS:
        raise errors.Conflict(
            f"A collection holds at most {MAX_QUESTIONS:,} test questions; it has {existing:,}."
        )


def _resolve(
    collection: Collection, questions: list[ParsedQuestion], field: str
) -> list[list[tuple[Document, int]]]:
    """The documents of every question, or field errors naming each unknown reference."""
    references = {ref for q in questions for ref, _ in q.documents}
    documents = _documents_by_reference(collection, references)
    problems: list[str] = []
    resolved = []
    for q in questions:
        pairs: dict = {}
        for ref, grade in q.documents:
            document = documents[ref]
            if document is None:
                problems.append(f"{q.where}: no single document of the collection is {ref!r}.")
            else:
                pairs[document.pk] = (document, max(grade, pairs.get(document.pk, (None, 0))[1]))
        resolved.append(list(pairs.values()))
    if problems:
        raise errors.ValidationFailed(fields={field: problems[:20]})
    return resolved


def _create(
    collection: Collection,
    parsed: ParsedQuestion,
    documents: list[tuple[Document, int]],
    *,
    source: str,
    user,
) -> EvaluationQuestion:
    question = EvaluationQuestion.objects.create(
        collection=collection,
        text=parsed.text,
        source=source,
        approved=source != QuestionSource.DRAFTED,
        created_by=person(user),
    )
    EvaluationJudgement.objects.bulk_create(
        EvaluationJudgement(question=question, document=document, grade=grade)
        for document, grade in documents
    )
    return question


@transaction.atomic
def question_create(
    *,
    collection: Collection,
    text: str,
    documents: list[DocumentReference],
    user=None,
    actor: Actor | None = None,
) -> EvaluationQuestion:
    """A question entered by hand, with the documents that should answer it."""
    require_tenant_schema()
    fields = {}
    if not text.strip() or len(text.strip()) > MAX_QUESTION_CHARS:
        fields["text"] = [f"Write the question (at most {MAX_QUESTION_CHARS} characters)."]
    if not documents or len(documents) > MAX_DOCUMENTS_PER_QUESTION:
        fields["documents"] = [
            f"Name the documents that answer it (1 to {MAX_DOCUMENTS_PER_QUESTION})."
        ]
    if fields:
        raise errors.ValidationFailed(fields=fields)
    parsed = ParsedQuestion(
        text=text.strip(),
        documents=[(d.reference, d.grade) for d in documents],
        where="documents",
    )
    check_capacity(collection, 1)
    [resolved] = _resolve(collection, [parsed], "documents")
    question = _create(collection, parsed, resolved, source=QuestionSource.ENTERED, user=user)
    audit_record(
        actor=actor,
        action=AuditAction.EVALUATION_QUESTION_ADDED,
        target=question,
        changes={"collection": [None, collection.name], "documents": [None, len(resolved)]},
    )
    return question


@transaction.atomic
def questions_upload(
    *, collection: Collection, name: str, data: bytes, user=None, actor: Actor | None = None
) -> list[EvaluationQuestion]:
    """Questions from a CSV (``question,document[,grade]``, a row per document) or JSONL
    file (``{"question", "documents": [id or title, or {"document", "grade"}]}``): all of
    them, or none with the reasons as field errors on ``file``."""
    require_tenant_schema()
    parsed = parse_questions(name=name, data=data)
    check_capacity(collection, len(parsed))
    resolved = _resolve(collection, parsed, "file")
    questions = [
        _create(collection, q, documents, source=QuestionSource.UPLOADED, user=user)
        for q, documents in zip(parsed, resolved, strict=True)
    ]
    audit_record(
        actor=actor,
        action=AuditAction.EVALUATION_QUESTIONS_UPLOADED,
        target=collection,
        changes={"file": [None, name[:200]], "questions": [None, len(questions)]},
    )
    return questions


@transaction.atomic
def question_delete(*, question: EvaluationQuestion, actor: Actor | None = None) -> None:
    audit_record(actor=actor, action=AuditAction.EVALUATION_QUESTION_DELETED, target=question)
    question.delete()


# -- runs ---------------------------------------------------------------------------


def reranker_configuration(reranker, candidates: int) -> dict | None:
    """The reranker a run compares with, as it was when the run started (null: none)."""
    if reranker is None:
        return None
    return {
        "id": str(reranker.pk),
        "name": reranker.name,
        "api_format": reranker.api_format,
        "model": reranker.model,
        "candidates": candidates,
    }


def collection_configuration(
    collection: Collection, reranker=None, rerank_candidates: int = DEFAULT_CANDIDATES
) -> dict:
    """What a run's figures depend on besides the questions: kept with the run."""
    model = collection.embedding_model
    return {
        "embedding_model": f"{model.provider}/{model.model_id}",
        "embedding_dimensions": collection.embedding_dimensions,
        "chunk_size": collection.chunk_size,
        "chunk_overlap": collection.chunk_overlap,
        "chunking": collection.chunking,
        "parent_size": collection.parent_size,
        "language": collection.language,
        "unaccent": collection.unaccent,
        "documents": collection.document_count,
        "chunks": collection.chunk_count,
        # The reranker the run compares with (its reranked rows), or null.
        "reranker": reranker_configuration(reranker, rerank_candidates),
    }


def _checked_settings(modes: list[str], top_ks: list[int]) -> tuple[list[str], list[int]]:
    modes = list(dict.fromkeys(modes or DEFAULT_MODES))
    top_ks = sorted(set(top_ks or DEFAULT_TOP_KS))
    fields: dict[str, list[str]] = {}
    if any(m not in SearchMode.__members__.values() for m in modes):
        fields["modes"] = [f"Each mode is one of {', '.join(DEFAULT_MODES)}."]
    if any(not 1 <= k <= MAX_TOP_K for k in top_ks):
        fields["top_ks"] = [f"Each top_k is between 1 and {MAX_TOP_K}."]
    if len(modes) * len(top_ks) > MAX_SETTINGS:
        fields["top_ks"] = [f"At most {MAX_SETTINGS} mode and top_k pairs per run."]
    if fields:
        raise errors.ValidationFailed(fields=fields)
    return modes, top_ks


def _enqueue(run: EvaluationRun) -> None:
    run_id = str(run.pk)

    def send() -> None:
        try:
            evaluation_run_task.delay(run_id)
        except KombuOperationalError:
            # Stored pending: the sweep sends it once the broker is back.
            logger.exception("evaluation run %s stored but its task could not be queued", run_id)

    transaction.on_commit(send)


@transaction.atomic
def run_start(
    *,
    collection: Collection,
    modes: list[str] | None = None,
    top_ks: list[int] | None = None,
    reranker=None,
    rerank_candidates: int | None = None,
    user=None,
    actor: Actor | None = None,
) -> EvaluationRun:
    """Queue a run of the collection's approved questions; with ``reranker`` (an
    ``assistants.Reranker`` of the organization), every setting is computed without and
    with it. One run at a time per collection: starting another while one is unfinished
    is a conflict."""
    require_tenant_schema()
    modes, top_ks = _checked_settings(modes or [], top_ks or [])
    if rerank_candidates is not None and not 1 <= rerank_candidates <= MAX_CANDIDATES:
        raise errors.ValidationFailed(
            fields={"rerank_candidates": [f"Between 1 and {MAX_CANDIDATES}."]}
        )
    if rerank_candidates is not None and reranker is None:
        raise errors.ValidationFailed(
            fields={"rerank_candidates": ["Choose a reranker to compare with."]}
        )
    candidates = rerank_candidates or DEFAULT_CANDIDATES
    # The collection's row serialises two starts of the same collection.
    Collection.objects.select_for_update().filter(pk=collection.pk).first()
    unfinished = EvaluationRun.objects.filter(
        collection=collection, status__in=[EvaluationStatus.PENDING, EvaluationStatus.RUNNING]
    )
    if unfinished.exists():
        raise errors.Conflict("An evaluation of this collection is already running.")
    questions = (
        EvaluationQuestion.objects.filter(collection=collection, approved=True)
        .filter(judgements__isnull=False)
        .distinct()
        .count()
    )
    if not questions:
        raise errors.Conflict("Add test questions with the documents that answer them first.")
    require_broker()
    run = EvaluationRun.objects.create(
        collection=collection,
        modes=modes,
        top_ks=top_ks,
        reranker=reranker,
        rerank_candidates=candidates if reranker else None,
        config=collection_configuration(collection, reranker, candidates),
        questions_total=questions,
        steps_total=questions * len(modes) * len(top_ks) * (2 if reranker else 1),
        created_by=person(user),
    )
    changes = {
        "collection": [None, collection.name],
        "modes": [None, ",".join(modes)],
        "top_ks": [None, ",".join(map(str, top_ks))],
        "questions": [None, questions],
    }
    if reranker:
        changes["reranker"] = [None, reranker.name]
    audit_record(
        actor=actor, action=AuditAction.EVALUATION_RUN_STARTED, target=run, changes=changes
    )
    _enqueue(run)
    return run
