"""Retrieval evaluation over HTTP: test questions and runs (input and output apart)."""

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers

from assistants import selectors as assistant_selectors
from assistants.api.serializers import ModelKeyField
from knowledge_base.evaluation.drafting import MAX_DRAFTS
from knowledge_base.evaluation.parsing import MAX_GRADE, MAX_QUESTION_CHARS
from knowledge_base.evaluation.services import (
    DEFAULT_MODES,
    MAX_DOCUMENTS_PER_QUESTION,
    MAX_SETTINGS,
)
from knowledge_base.models import (
    EvaluationJudgement,
    EvaluationQuestion,
    EvaluationResult,
    EvaluationRun,
)
from knowledge_base.retrieval import MAX_TOP_K, SearchMode
from knowledge_base.retrieval.rerank import DEFAULT_CANDIDATES, MAX_CANDIDATES


class EvaluationJudgementInputSerializer(serializers.Serializer):
    document = serializers.CharField(
        max_length=300, help_text="The document's id, or its exact title in the collection."
    )
    grade = serializers.IntegerField(min_value=1, max_value=MAX_GRADE, default=1)


class EvaluationQuestionInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_QUESTION_CHARS)
    documents = EvaluationJudgementInputSerializer(
        many=True,
        min_length=1,
        max_length=MAX_DOCUMENTS_PER_QUESTION,
        help_text="The documents that should answer the question (relevance grade 1-3).",
    )


class EvaluationDraftInputSerializer(serializers.Serializer):
    model = ModelKeyField(help_text='The chat model that drafts, e.g. "openai/gpt-4o-mini".')
    count = serializers.IntegerField(min_value=1, max_value=MAX_DRAFTS, default=5)


class EvaluationQuestionReviewSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_QUESTION_CHARS, required=False)
    approved = serializers.BooleanField(
        required=False,
        help_text="Approved questions count in runs (drafted ones start unapproved).",
    )


class EvaluationQuestionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (header question,document[,grade]; a row per document) or JSONL "
        '({"question", "documents": [id or title, or {"document", "grade"}]}); at most 2 MB.'
    )


class EvaluationJudgementOutputSerializer(serializers.ModelSerializer):
    document_title = serializers.CharField(source="document.title", read_only=True)

    class Meta:
        model = EvaluationJudgement
        fields = ["document", "document_title", "grade"]


class EvaluationQuestionOutputSerializer(serializers.ModelSerializer):
    documents = EvaluationJudgementOutputSerializer(source="judgements", many=True, read_only=True)

    class Meta:
        model = EvaluationQuestion
        fields = ["id", "collection", "text", "source", "approved", "documents", "created_at"]


class EvaluationQuestionUploadResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()


class EvaluationDraftResponseSerializer(serializers.Serializer):
    results = EvaluationQuestionOutputSerializer(many=True)


class EvaluationRunInputSerializer(serializers.Serializer):
    modes = serializers.ListField(
        child=serializers.ChoiceField(choices=[m.value for m in SearchMode]),
        required=False,
        min_length=1,
        max_length=3,
        help_text=f"Search modes to evaluate; default {', '.join(DEFAULT_MODES)}.",
    )
    top_ks = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_TOP_K),
        required=False,
        min_length=1,
        max_length=MAX_SETTINGS,
        help_text="Result counts to evaluate (nDCG@10 and recall@10 read the first 10 "
        "documents); default [10].",
    )
    reranker = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A reranker (id) of the organization to compare with: every mode and "
        "top_k is then computed without and with it (results with `reranked` true).",
    )
    rerank_candidates = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_CANDIDATES,
        help_text=f"Candidates the reranker reads (default {DEFAULT_CANDIDATES}; never "
        "fewer than top_k). Only with reranker.",
    )

    def validate(self, attrs):
        """``reranker`` becomes the organization's Reranker (or None)."""
        reranker_id = attrs.get("reranker")
        if reranker_id is None:
            attrs["reranker"] = None
            if attrs.get("rerank_candidates") is not None:
                raise serializers.ValidationError(
                    {"rerank_candidates": ["Choose a reranker to compare with."]}
                )
            return attrs
        try:
            attrs["reranker"] = assistant_selectors.reranker_get(reranker_id=reranker_id)
        except ObjectDoesNotExist:
            raise serializers.ValidationError({"reranker": ["Unknown reranker."]}) from None
        return attrs


class EvaluationResultOutputSerializer(serializers.ModelSerializer):
    reranked = serializers.BooleanField(
        read_only=True, help_text="Computed with the run's reranker (false: without)."
    )
    rerank_failures = serializers.IntegerField(
        read_only=True,
        help_text="Questions whose reranking failed (the reranker's error or timeout): "
        "their un-reranked order was scored. 0 when not reranked.",
    )

    class Meta:
        model = EvaluationResult
        fields = [
            "mode",
            "top_k",
            "reranked",
            "rerank_failures",
            "ndcg_at_10",
            "recall_at_10",
            "mrr",
            "questions",
        ]


class EvaluationQuestionScoreSerializer(serializers.Serializer):
    question = serializers.UUIDField()
    ndcg_at_10 = serializers.FloatField()
    recall_at_10 = serializers.FloatField()
    reciprocal_rank = serializers.FloatField()


class EvaluationResultDetailSerializer(EvaluationResultOutputSerializer):
    per_question = EvaluationQuestionScoreSerializer(many=True, read_only=True)

    class Meta(EvaluationResultOutputSerializer.Meta):
        fields = [*EvaluationResultOutputSerializer.Meta.fields, "per_question"]


class EvaluationRunOutputSerializer(serializers.ModelSerializer):
    results = EvaluationResultOutputSerializer(many=True, read_only=True)
    modes = serializers.ListField(child=serializers.CharField(), read_only=True)
    top_ks = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    reranker = serializers.UUIDField(
        source="reranker_id",
        read_only=True,
        allow_null=True,
        help_text="The reranker compared with (null: none, or since deleted; the name is "
        "in config).",
    )
    rerank_candidates = serializers.IntegerField(read_only=True, allow_null=True)
    config = serializers.DictField(
        read_only=True,
        help_text="The collection's configuration when the run started (embedding model, "
        "chunking, language, reranker).",
    )

    class Meta:
        model = EvaluationRun
        fields = [
            "id",
            "collection",
            "status",
            "modes",
            "top_ks",
            "reranker",
            "rerank_candidates",
            "config",
            "questions_total",
            "steps_done",
            "steps_total",
            "error",
            "results",
            "started_at",
            "finished_at",
            "created_at",
        ]


class EvaluationRunDetailSerializer(EvaluationRunOutputSerializer):
    results = EvaluationResultDetailSerializer(many=True, read_only=True)
