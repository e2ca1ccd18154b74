"""An evaluation run's body, its lease and its recovery sweep.

The task claims the run with one conditional UPDATE, as a **lease** owned by its delivery
(the Celery task id), like a document's ingestion (knowledge_base/leases.py): a duplicate
delivery finds the lease held and does nothing; the same task redelivered after its worker
died takes the run over at once; progress writes renew the lease. Each (mode, top_k)
result is written once it is complete (unique per run), so a run taken over skips what
is done. Beat's sweep queues again a run whose lease expired or that stayed pending (its
task was lost), up to ``DOCUMENT_MAX_RECOVERIES`` times, then fails it with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants.providers.errors import ProviderError, as_domain_error
from core import errors
from core.tenancy import current_organization, require_tenant_schema
from knowledge_base import retrieval
from knowledge_base.evaluation import metrics
from knowledge_base.models import (
    EvaluationJudgement,
    EvaluationQuestion,
    EvaluationResult,
    EvaluationRun,
    EvaluationStatus,
)
from knowledge_base.retrieval.rerank import DEFAULT_CANDIDATES

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0  # a progress write (and lease renewal) at most this often


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.DOCUMENT_LEASE_SECONDS)


class LeaseLost(Exception):
    """Another delivery took the run over (or it was deleted): stop writing."""


def run_claim(*, run_id, owner: str) -> bool:
    now = timezone.now()
    claimable = (
        Q(status=EvaluationStatus.PENDING)
        | Q(status=EvaluationStatus.RUNNING, lease_owner=owner)
        | Q(status=EvaluationStatus.RUNNING, lease_expires_at__lt=now)
    )
    return bool(
        EvaluationRun.objects.filter(claimable, pk=run_id).update(
            status=EvaluationStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + lease_duration(),
            started_at=now,
            updated_at=now,
        )
    )


def _progress(run: EvaluationRun, owner: str, steps_done: int) -> None:
    """Record progress and renew the lease; LeaseLost when the run is no longer ours."""
    now = timezone.now()
    updated = EvaluationRun.objects.filter(
        pk=run.pk, status=EvaluationStatus.RUNNING, lease_owner=owner
    ).update(steps_done=steps_done, lease_expires_at=now + lease_duration(), updated_at=now)
    if not updated:
        raise LeaseLost(str(run.pk))


def _questions(run: EvaluationRun) -> list[tuple[EvaluationQuestion, dict[str, int]]]:
    questions = (
        EvaluationQuestion.objects.filter(collection_id=run.collection_id, approved=True)
        .prefetch_related(
            Prefetch(
                "judgements",
                queryset=EvaluationJudgement.objects.only("question", "document", "grade"),
            )
        )
        .order_by("created_at", "id")
    )
    pairs = []
    for question in questions:
        relevance = {str(j.document_id): j.grade for j in question.judgements.all()}
        if relevance:
            pairs.append((question, relevance))
    return pairs


def ranked_documents_for(
    *,
    question: str,
    collection,
    mode: str,
    top_k: int,
    organization,
    user=None,
    rerank: retrieval.Rerank | None = None,
) -> tuple[list[str], bool]:
    """The collection's documents for ``question``, best first, as the search API ranks
    them (``retrieval.search_with_outcome``), each document at its best chunk; and whether
    the reranking asked for failed (the fused order was kept)."""
    result = retrieval.search_with_outcome(
        retrieval.SearchParams(
            query=question,
            collections=[collection],
            mode=retrieval.SearchMode(mode),
            top_k=top_k,
            rerank=rerank,
        ),
        organization=organization,
        user=user,
    )
    # No hits means nothing to rerank: not a failure of the reranker.
    failed = rerank is not None and bool(result.rerank and result.rerank.skipped_reason)
    return metrics.ranked_documents(hit.document_id for hit in result.hits), failed


def run_settings(run: EvaluationRun) -> list[tuple[str, int, bool]]:
    """(mode, top_k, reranked) of every result of the run, in the order computed."""
    reranked = [False, True] if run.reranker_id else [False]
    return [(m, k, r) for m in run.modes for k in run.top_ks for r in reranked]


def _finish(run_id, owner: str, **fields) -> None:
    EvaluationRun.objects.filter(pk=run_id, lease_owner=owner).update(
        lease_owner="",
        lease_expires_at=None,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
        **fields,
    )


def evaluation_run_execute(*, run_id, owner: str, organization=None) -> EvaluationRun | None:
    """Run the evaluation (the task's body). None when another delivery holds it or it is
    finished; safe to run twice."""
    require_tenant_schema()
    organization = organization or current_organization()
    if not run_claim(run_id=run_id, owner=owner):
        return None
    run = EvaluationRun.objects.select_related("collection__embedding_model", "reranker").get(
        pk=run_id
    )
    try:
        _evaluate(run, owner, organization)
    except LeaseLost:
        logger.info("evaluation run %s taken over by another delivery", run_id)
        return None
    except (errors.DomainError, ProviderError) as error:
        # A provider failing to embed the questions, a quota: the reason, for the page.
        if isinstance(error, ProviderError):
            error = as_domain_error(error)
        _finish(run_id, owner, status=EvaluationStatus.FAILED, error=error.message[:1000])
    else:
        _finish(run_id, owner, status=EvaluationStatus.COMPLETED, error="")
    run.refresh_from_db()
    return run


def _evaluate(run: EvaluationRun, owner: str, organization) -> None:
    questions = _questions(run)
    done_settings = set(
        EvaluationResult.objects.filter(run=run).values_list("mode", "top_k", "reranked")
    )
    plan = run_settings(run)
    steps_total = len(questions) * len(plan)
    EvaluationRun.objects.filter(pk=run.pk).update(
        questions_total=len(questions), steps_total=steps_total
    )
    steps = len(done_settings) * len(questions)
    saved_at = time.monotonic()
    # The person who started it (the query embeddings are their usage), if still there.
    user = get_user_model().objects.filter(pk=run.created_by_id).first()
    rerank = (
        retrieval.Rerank(run.reranker, run.rerank_candidates or DEFAULT_CANDIDATES)
        if run.reranker_id
        else None
    )
    for mode, top_k, reranked in plan:
        if (mode, top_k, reranked) in done_settings:
            continue
        scores = []
        failures = 0
        for question, relevance in questions:
            ranked, failed = ranked_documents_for(
                question=question.text,
                collection=run.collection,
                mode=mode,
                top_k=top_k,
                organization=organization,
                user=user,
                rerank=rerank if reranked else None,
            )
            failures += failed
            scores.append((question, metrics.question_score(ranked, relevance)))
            steps += 1
            if time.monotonic() - saved_at >= PROGRESS_SECONDS:
                _progress(run, owner, steps)
                saved_at = time.monotonic()
        with transaction.atomic():
            _progress(run, owner, steps)
            EvaluationResult.objects.create(
                run=run,
                mode=mode,
                top_k=top_k,
                reranked=reranked,
                rerank_failures=failures,
                ndcg_at_10=metrics.mean([s.ndcg_at_10 for _, s in scores]),
                recall_at_10=metrics.mean([s.recall_at_10 for _, s in scores]),
                mrr=metrics.mean([s.reciprocal_rank for _, s in scores]),
                questions=len(scores),
                per_question=[
                    {
                        "question": str(q.pk),
                        "ndcg_at_10": round(s.ndcg_at_10, 6),
                        "recall_at_10": round(s.recall_at_10, 6),
                        "reciprocal_rank": round(s.reciprocal_rank, 6),
                    }
                    for q, s in scores
                ],
            )


# -- the sweep --------------------------------------------------------------------------

Requeue = Callable[[str], None]


def evaluation_runs_recover_stalled(*, requeue: Requeue) -> dict:
    """Queue again this organization's runs whose worker died (lease expired) or whose
    task never started (pending too long); after ``DOCUMENT_MAX_RECOVERIES`` attempts,
    fail them with the reason."""
    require_tenant_schema()
    now = timezone.now()
    pending_since = now - timedelta(seconds=settings.DOCUMENT_PENDING_TIMEOUT_SECONDS)
    limit = settings.DOCUMENT_MAX_RECOVERIES
    requeued = failed = 0
    with transaction.atomic():
        stalled = EvaluationRun.objects.select_for_update(skip_locked=True).filter(
            Q(status=EvaluationStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=EvaluationStatus.PENDING, updated_at__lt=pending_since)
        )
        for run in stalled.only("id", "recovery_attempts"):
            if run.recovery_attempts >= limit:
                EvaluationRun.objects.filter(pk=run.pk).update(
                    status=EvaluationStatus.FAILED,
                    error=(
                        f"The run stalled {limit} times (the worker stopped or the task was "
                        "lost) and was given up; start it again."
                    ),
                    lease_owner="",
                    lease_expires_at=None,
                    finished_at=now,
                    updated_at=now,
                )
                failed += 1
                continue
            EvaluationRun.objects.filter(pk=run.pk).update(
                status=EvaluationStatus.PENDING,
                lease_owner="",
                lease_expires_at=None,
                recovery_attempts=F("recovery_attempts") + 1,
                updated_at=now,
            )
            transaction.on_commit(lambda r=str(run.pk): requeue(r))
            requeued += 1
    return {"requeued": requeued, "failed": failed}


def evaluation_runs_recover_everywhere(*, requeue: Requeue) -> dict:
    """The sweep in every organization's schema (the beat task runs in public)."""
    from users.models import Organization

    totals = {"requeued": 0, "failed": 0}
    for schema in Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    ):
        with schema_context(schema):
            result = evaluation_runs_recover_stalled(requeue=requeue)
        totals = {key: totals[key] + result[key] for key in totals}
    return totals
