from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assistants import selectors
from assistants.catalog import selectors as catalog
from assistants.catalog.models import AIModel, AnswerMode, Capability, Provider
from assistants.models import (
    CREDENTIAL_PROVIDERS,
    Assistant,
    ProviderCredential,
    Reranker,
    RerankerFormat,
    RetrievalMode,
)
from core.api.query import QueryBooleanField, QuerySerializer
from prompts import selectors as prompt_selectors

MAX_TEST_MESSAGE = 8000


class AIModelSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="key", read_only=True, help_text='"provider/model_id"')
    capabilities = serializers.ListField(child=serializers.CharField(), read_only=True)
    answer_mode = serializers.SerializerMethodField()

    class Meta:
        model = AIModel
        fields = [
            "id",
            "provider",
            "model_id",
            "display_name",
            "description",
            "capabilities",
            "context_window",
            "max_output_tokens",
            "embedding_dimensions",
            "input_price_per_million",
            "output_price_per_million",
            "currency",
            "supports_temperature",
            "answer_mode",
            "deprecation_date",
        ]

    def get_answer_mode(self, model: AIModel) -> str:
        """ "extractive" for the offline responder (quotes sources), "llm" otherwise."""
        return model.answer_mode


@extend_schema_field(OpenApiTypes.STR)
class ModelKeyField(serializers.Field):
    """A catalog model by its "provider/model_id"; unknown ones name the valid choices."""

    default_error_messages = {"invalid": 'Give a model id such as "openai/gpt-4o-mini".'}

    def __init__(self, capability: str = Capability.CHAT, **kwargs):
        self.capability = capability
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not 0 < len(data) <= 160 or "\x00" in data:
            self.fail("invalid")
        key = data.strip()
        model = catalog.ai_model_get_by_key(key=key, capability=self.capability)
        if model is None:
            choices = ", ".join(m.key for m in catalog.ai_model_list(capability=self.capability))
            raise serializers.ValidationError(
                f"Unknown model {key!r} or it cannot {self.capability}. Choose one of: {choices}."
            )
        return model

    def to_representation(self, value):
        return value.key


class AssistantInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    avatar = serializers.CharField(max_length=500, required=False, allow_blank=True)
    model = ModelKeyField(help_text='Catalog id of a chat model, e.g. "openai/gpt-4o-mini".')
    fallback_model = ModelKeyField(required=False, allow_null=True)
    system_instructions = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    temperature = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=0, max_value=2, required=False
    )
    top_p = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=0, max_value=1, required=False
    )
    max_output_tokens = serializers.IntegerField(min_value=1, max_value=200000, required=False)
    retrieval_mode = serializers.ChoiceField(choices=RetrievalMode.choices, required=False)
    retrieval_top_k = serializers.IntegerField(min_value=1, max_value=50, required=False)
    retrieval_min_score = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=0, max_value=1, required=False
    )
    reranker = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A reranker (id) that reorders the retrieved candidates; null: none.",
    )
    rerank_candidates = serializers.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        help_text="Fused candidates the reranker reads (at least retrieval_top_k are).",
    )
    is_active = serializers.BooleanField(required=False)
    suggested_questions = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=6,
        help_text="Up to 6 questions offered in an empty chat with this assistant.",
    )
    instructions_version = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A prompt template version (id) whose rendering becomes the instructions.",
    )
    instructions_values = serializers.JSONField(required=False)
    collections = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=50,
        help_text="Knowledge collections the assistant answers from.",
    )

    def validate_instructions_version(self, value):
        if value is None:
            return None
        try:
            return prompt_selectors.version_by_id(version_id=value)
        except ObjectDoesNotExist:
            raise serializers.ValidationError("Unknown prompt template version.") from None

    def validate_reranker(self, value):
        if value is None:
            return None
        try:
            return selectors.reranker_get(reranker_id=value)
        except ObjectDoesNotExist:
            raise serializers.ValidationError("Unknown reranker.") from None

    def validate_collections(self, ids):
        try:
            return selectors.assistant_collections_by_ids(ids=ids)
        except ObjectDoesNotExist:
            raise serializers.ValidationError("Unknown collection.") from None

    def validate(self, attrs):
        model = attrs.get("model") or getattr(self.instance, "model", None)
        fallback = attrs.get("fallback_model")
        if fallback is not None and model is not None and fallback.pk == model.pk:
            raise serializers.ValidationError(
                {"fallback_model": ["Choose a model other than the main one."]}
            )
        max_tokens = attrs.get("max_output_tokens") or getattr(
            self.instance, "max_output_tokens", None
        )
        if (
            model is not None
            and max_tokens
            and model.max_output_tokens
            and max_tokens > model.max_output_tokens
        ):
            raise serializers.ValidationError(
                {
                    "max_output_tokens": [
                        f"{model.display_name} allows at most {model.max_output_tokens} output tokens."
                    ]
                }
            )
        return attrs


class AIModelBriefSerializer(AIModelSerializer):
    class Meta(AIModelSerializer.Meta):
        fields = [
            "id",
            "provider",
            "model_id",
            "display_name",
            "answer_mode",
            "currency",
            "input_price_per_million",
            "output_price_per_million",
        ]


class AssistantOutputSerializer(serializers.ModelSerializer):
    model = AIModelBriefSerializer(read_only=True)
    fallback_model = AIModelBriefSerializer(read_only=True, allow_null=True)
    answer_mode = serializers.SerializerMethodField()
    collections = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Assistant
        fields = [
            "id",
            "name",
            "description",
            "avatar",
            "model",
            "fallback_model",
            "answer_mode",
            "system_instructions",
            "temperature",
            "top_p",
            "max_output_tokens",
            "retrieval_mode",
            "retrieval_top_k",
            "retrieval_min_score",
            "reranker",
            "rerank_candidates",
            "collections",
            "is_active",
            "suggested_questions",
            "instructions_version",
            "instructions_values",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_answer_mode(self, assistant: Assistant) -> str:
        return assistant.model.answer_mode


class AssistantTestInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=MAX_TEST_MESSAGE, trim_whitespace=True)


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    estimated = serializers.BooleanField()


class AssistantTestOutputSerializer(serializers.Serializer):
    reply = serializers.CharField()
    model = serializers.CharField(help_text="The model that answered (the fallback if used).")
    answer_mode = serializers.ChoiceField(choices=[mode.value for mode in AnswerMode])
    fell_back = serializers.BooleanField()
    finish_reason = serializers.CharField()
    usage = UsageSerializer()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()
    latency_ms = serializers.IntegerField()


class CredentialCreateSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=CREDENTIAL_PROVIDERS)
    api_key = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
    )
    base_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    organization_id = serializers.CharField(max_length=120, required=False, allow_blank=True)


class CredentialUpdateSerializer(serializers.Serializer):
    api_key = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
    )
    base_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    organization_id = serializers.CharField(max_length=120, required=False, allow_blank=True)


class CredentialOutputSerializer(serializers.ModelSerializer):
    api_key_hint = serializers.SerializerMethodField(help_text="Only the last 4 characters.")

    class Meta:
        model = ProviderCredential
        fields = [
            "id",
            "provider",
            "api_key_hint",
            "base_url",
            "organization_id",
            "created_at",
            "updated_at",
            "last_tested_at",
            "last_test_ok",
            "last_test_message",
        ]

    def get_api_key_hint(self, credential: ProviderCredential) -> str:
        if not credential.api_key_encrypted:
            return ""
        return f"…{credential.api_key_last4}" if credential.api_key_last4 else "set"


class RerankerCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    api_format = serializers.ChoiceField(
        choices=RerankerFormat.choices,
        default=RerankerFormat.COHERE,
        help_text='"cohere": POST /rerank {model, query, documents, top_n} (Cohere, Jina, '
        'vLLM); "tei": POST /rerank {query, texts} (text-embeddings-inference).',
    )
    base_url = serializers.URLField(
        max_length=500, help_text="The server's API root; requests go to {base_url}/rerank."
    )
    model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    api_key = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
    )


class RerankerUpdateSerializer(RerankerCreateSerializer):
    name = serializers.CharField(max_length=120, required=False)
    api_format = serializers.ChoiceField(choices=RerankerFormat.choices, required=False)
    base_url = serializers.URLField(max_length=500, required=False)


class RerankerOutputSerializer(serializers.ModelSerializer):
    api_key_hint = serializers.SerializerMethodField(help_text="Only the last 4 characters.")

    class Meta:
        model = Reranker
        fields = [
            "id",
            "name",
            "api_format",
            "base_url",
            "model",
            "api_key_hint",
            "created_at",
            "updated_at",
        ]

    def get_api_key_hint(self, reranker: Reranker) -> str:
        if not reranker.api_key_encrypted:
            return ""
        return f"…{reranker.api_key_last4}" if reranker.api_key_last4 else "set"


class ModelQuerySerializer(QuerySerializer):
    capability = serializers.ChoiceField(choices=Capability.choices, required=False)
    provider = serializers.ChoiceField(choices=Provider.choices, required=False)


class AssistantQuerySerializer(QuerySerializer):
    is_active = QueryBooleanField()
    search = serializers.CharField(required=False, allow_blank=True, default="")
