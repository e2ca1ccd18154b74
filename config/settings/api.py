"""Django REST framework and the OpenAPI schema: the conventions of /api/v1/."""

import environ

from config.settings.storage import KNOWLEDGE_MAX_UPLOAD_BYTES

env = environ.Env()

REST_FRAMEWORK = {
    # API keys first (programs), then the dashboard's session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.APIKeyAuthentication",
        "core.api.authentication.SessionAuthentication",
    ],
    # Fail closed: a view that forgets to derive from the base views refuses everyone.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        # Fail open while Redis is down (billing/throttling.py says why).
        "billing.throttling.AnonRateThrottle",
        "billing.throttling.UserRateThrottle",
        # Per plan: requests per minute of one API key and of the whole organization.
        "billing.throttling.APIKeyRateThrottle",
        "billing.throttling.OrganizationRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="60/min"),
        "user": env("THROTTLE_USER", default="600/min"),
        "signup": env("THROTTLE_SIGNUP", default="10/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # JSON bodies only: form encodings blur "" and null and lists, so the schema could not
    # say what is accepted. Uploads declare multipart on their own view. JSON nested too
    # deeply is refused as 400 (not a RecursionError 500).
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Assistant Platform API",
    "DESCRIPTION": (
        "Versioned REST API of the assistant platform. Every organization endpoint is "
        "served on the organization's host (acme.<BASE_DOMAIN>). Errors always have the "
        'shape {"error": {"code", "message", "fields"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Pinned copies shipped by drf-spectacular-sidecar, served as our static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
        "chat.api.stream_schema.add_stream_event_components",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "core.access.Role.choices",
        "ProviderEnum": "assistants.catalog.models.Provider.choices",
        "CredentialProviderEnum": "assistants.models.CREDENTIAL_PROVIDERS",
        "WebhookDeliveryStatusEnum": "integrations.models.WebhookDeliveryStatus.choices",
        "WorkflowRunStatusEnum": "workflows.models.RunStatus.choices",
        "ConversationSourceEnum": "chat.models.ConversationSource.choices",
        "ImportSourceEnum": "chat.conversations.formats.SOURCES",
        "EvaluationStatusEnum": "knowledge_base.models.EvaluationStatus.choices",
        "ChunkingEnum": "knowledge_base.models.Chunking.choices",
        # The search modes, whether one (search, results) or a list (evaluation runs).
        "ModeEnum": ["vector", "keyword", "hybrid"],
    },
}

# API keys: the HMAC key their hashes are made with (defaults to SECRET_KEY; set it
# separately so that rotating SECRET_KEY does not invalidate every API key).
API_KEY_PEPPER = env("API_KEY_PEPPER", default="")
# django-ratelimit keeps its counters in the platform-wide cache.
RATELIMIT_USE_CACHE = "shared"
# The window of the plans' per-minute limits (requests and AI tokens). Only tests
# shorten it, to see a limit recover without waiting a minute.
RATE_LIMIT_WINDOW_SECONDS = 60
# Largest request body under /api/ (413 payload_too_large above it, refused from its
# Content-Length before it is read): JSON and forms up to DATA_UPLOAD_MAX_MEMORY_SIZE,
# multipart uploads (several files at once) up to this (at least one file of the largest
# size allowed, plus room for the multipart framing).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
API_MAX_UPLOAD_REQUEST_BYTES = env.int(
    "API_MAX_UPLOAD_REQUEST_BYTES",
    default=max(100 * 1024 * 1024, KNOWLEDGE_MAX_UPLOAD_BYTES + 1024 * 1024),
)
# The plan of organizations whose plan code names no Plan row.
BILLING_DEFAULT_PLAN = env("BILLING_DEFAULT_PLAN", default="free")
# Wrong API keys one client address may try per window before every key it sends is
# refused with 429 until the window ends (integrations.services.api_key_authenticate).
API_KEY_FAILURES_PER_WINDOW = env.int("API_KEY_FAILURES_PER_WINDOW", default=20)
API_KEY_FAILURE_WINDOW_SECONDS = env.int("API_KEY_FAILURE_WINDOW_SECONDS", default=60)
