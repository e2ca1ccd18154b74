"""Reads of test questions and evaluation runs (organization schema)."""

from django.db.models import Prefetch, QuerySet

from core.lookups import parse_uuid
from knowledge_base.models import (
    Collection,
    EvaluationJudgement,
    EvaluationQuestion,
    EvaluationResult,
    EvaluationRun,
)


def question_list(*, collection: Collection) -> QuerySet[EvaluationQuestion]:
    return EvaluationQuestion.objects.filter(collection=collection).prefetch_related(
        Prefetch(
            "judgements",
            queryset=EvaluationJudgement.objects.select_related("document").only(
                "id", "question_id", "grade", "document__id", "document__title"
            ),
        )
    )


def question_get(*, collection: Collection, question_id) -> EvaluationQuestion:
    return question_list(collection=collection).get(id=parse_uuid(question_id))


def run_list(*, collection: Collection) -> QuerySet[EvaluationRun]:
    return EvaluationRun.objects.filter(collection=collection).prefetch_related(
        Prefetch("results", queryset=EvaluationResult.objects.defer("per_question"))
    )


def run_get(*, collection: Collection, run_id) -> EvaluationRun:
    return EvaluationRun.objects.prefetch_related("results").get(
        collection=collection, id=parse_uuid(run_id)
    )
