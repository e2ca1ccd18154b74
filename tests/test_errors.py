"""Every malformed request is a 4xx in the one error format, and changes nothing.

Generated from the OpenAPI schema like tests/isolation: every operation of the
organization API and of the public site is sent each kind of broken body by a caller
allowed to use it (organization A's admin, or anyone for sign-up), with the ids of A's
real objects, so an endpoint that acted on a broken request would visibly change them.
"No change" is read from PostgreSQL itself: the rows this transaction inserted, updated
or deleted in any table of any schema (``pg_stat_xact_all_tables``).
"""

import json

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context
from drf_spectacular.generators import SchemaGenerator

from assistants import services as assistant_services
from audit.services import Actor
from chat import services as chat_services
from core.api.authorization import caller_resolve
from knowledge_base import services as knowledge_services
from knowledge_base import web_sources
from knowledge_base.evaluation import services as evaluation_services
from tests.factories import (
    api_key_for,
    catalog_model,
    seed_gmail,
    seed_prompts_and_workflows,
    seed_webhooks,
    seed_widgets,
    slack_integration_for,
    upload_files,
)
from tests.helpers import (
    assert_error,
    assert_nothing_written,
    db_writes,
    rolled_back_at_the_end,
)
from tests.openapi import HTTP_METHODS, ID_FIELDS, operations, path_params, tenant_schema
from users import services as user_services
from users.models import Role

# Small limits, so each oversized body is cheap to build; the defaults are tested below.
LIMIT = 64 * 1024
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def public_schema() -> dict:
    return SchemaGenerator(urlconf="config.urls_public").get_schema(request=None, public=True)


def expected(kind: tuple, method: str, path: str, schema: dict) -> tuple[int, str]:
    """A body the endpoint cannot read at all is 415: API bodies are JSON, and only
    uploads also take multipart (so only they see a broken multipart body as 400)."""
    name, _, _, status, code = kind
    if name == "multipart without boundary":
        content = schema["paths"][path].get(method.lower(), {}).get("requestBody", {})
        if "multipart/form-data" not in content.get("content", {}):
            return 415, "unsupported_media_type"
    return status, code


def public_operations() -> list[tuple[str, str]]:
    schema = public_schema()
    return [
        (method.upper(), path)
        for path, item in sorted(schema["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# (name, content type, body, expected status, expected code)
MALFORMED = [
    (
        "oversized json",
        "application/json",
        b'{"name": "' + b"x" * (LIMIT + 10) + b'"}',
        413,
        "payload_too_large",
    ),
    (
        "oversized form",
        "application/x-www-form-urlencoded",
        b"name=" + b"x" * (LIMIT + 10),
        413,
        "payload_too_large",
    ),
    (
        "oversized multipart",
        "multipart/form-data; boundary=B",
        b"--B\r\n" + b"x" * (LIMIT + 10),
        413,
        "payload_too_large",
    ),
    ("5,000-deep json", "application/json", _deep(5000), 400, "parse_error"),
    ("truncated json", "application/json", b'{"name": "half', 400, "parse_error"),
    (
        "json that is not utf-8",
        "application/json",
        '{"name": "café"}'.encode("latin-1"),
        400,
        "parse_error",
    ),
    ("json in utf-16", "application/json", '{"name": "x"}'.encode("utf-16"), 400, "parse_error"),
    ("plain text", "text/plain", b"hello", 415, "unsupported_media_type"),
    ("xml", "application/xml", b"<name>x</name>", 415, "unsupported_media_type"),
    ("multipart without boundary", "multipart/form-data", b"--x\r\n\r\n", 400, "parse_error"),
]


@pytest.fixture(scope="module")
def _seeded_once(organizations, django_db_blocker):
    """One object of each kind in organization A, seeded once for the module inside a
    transaction rolled back at its end; each test runs in a savepoint within it."""
    with rolled_back_at_the_end(django_db_blocker):
        org_a = organizations["alpha"]
        user_services.invitation_create(
            organization=org_a.organization,
            email="invitee@example.test",
            role=Role.VIEWER,
            invited_by=org_a.admin,
        )
        with schema_context(org_a.slug):
            assistant = assistant_services.assistant_create(
                user=org_a.admin, name="Malformed", model=catalog_model("local/extractive")
            )
            assistant_services.credential_create(
                provider="openai", api_key="sk-x", user=org_a.admin
            )
            # a reranker at a literal public address (never called: no search here reranks)
            assistant_services.reranker_create(
                name="Malformed",
                base_url="http://93.184.215.14/malformed-rerank",
                model="rerank-model",
                api_key="sk-malformed-rerank",
                user=org_a.admin,
            )
            collection = knowledge_services.collection_create(
                name="Malformed", embedding_model=catalog_model("local/all-minilm-l6-v2")
            )
            knowledge_services.document_create_text(collection=collection, title="Doc", text="Text")
            # a test question and a run of it (queued on commit: never run here)
            evaluation_services.question_create(
                collection=collection,
                text="Question?",
                documents=[evaluation_services.DocumentReference("Doc")],
            )
            evaluation_services.run_start(collection=collection)
            # a sitemap (never fetched: its task is queued on commit), at a literal address
            web_sources.sitemap_add(
                collection=collection,
                url="http://93.184.215.14/malformed/sitemap.xml",
                actor=Actor(user=org_a.admin),
            )
            turn = chat_services.chat_prepare(
                organization=org_a.organization,
                assistant_id=assistant.id,
                message="Question",
                user=org_a.admin,
                caller=caller_resolve(
                    organization=org_a.organization, user=org_a.admin, api_key=None
                ),
            )
            chat_services.chat_finish(turn=turn, text="Answer", status="complete")
        seed_prompts_and_workflows(org_a, label="Malformed", copies=1)
        api_key_for(org_a, name="malformed")
        upload_files(org_a, [("malformed.txt", b"Text")])
        slack_integration_for(org_a, team_id="T-MALFORMED")
        seed_webhooks(org_a, label="malformed")
        seed_widgets(org_a, assistant_id=assistant.id, label="malformed")
        seed_gmail(org_a, label="malformed", collection_id=collection.id)
        connection.set_schema_to_public()
        yield org_a


@pytest.fixture
def seeded(_seeded_once, db):
    """Organization A with one object of each kind (seeded once for the module)."""
    return _seeded_once


ID_SOURCES = {
    "message_id": "/api/v1/chat/sessions/{session_id}/messages",
    "chunk_id": None,  # chunks need ingestion; only GETs use them (oversized body only)
    "delivery_id": "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries",
    "public_id": "/api/v1/widgets",  # the widget visitor API names widgets by public id
    # Imports and reactions are not in this seed; their bodies are refused before any lookup.
    "import_id": None,
    "reaction_id": None,
}


def _fill(path: str, values: dict) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def real_ids(client, path: str) -> dict:
    """Ids of A's objects for the path's parameters, read from A's own lists."""
    values = {}
    for param in path_params(path):
        source = ID_SOURCES.get(param, "")
        if source is None:
            values[param] = "00000000-0000-0000-0000-000000000000"
            continue
        if not source:
            source = path[: path.index("{" + param + "}")].rstrip("/")
        for name, value in real_ids(client, source).items():
            values.setdefault(name, value)
        response = client.get(_fill(source, values))
        assert response.status_code == 200, (source, response.content[:300])
        values[param] = response.json()["results"][0][ID_FIELDS.get(param, "id")]
    return values


def send(client, method: str, path: str, content_type: str, body: bytes):
    return client.generic(method, path, body, content_type=content_type)


@pytest.fixture
def small_limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    settings.API_MAX_UPLOAD_REQUEST_BYTES = LIMIT


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), operations())
def test_every_operation_refuses_every_malformed_body(
    method, path, seeded, client_for, small_limits
):
    client = client_for(seeded, "admin")
    url = _fill(path, real_ids(client, path))
    kinds = MALFORMED if method in BODY_METHODS else [k for k in MALFORMED if k[3] == 413]
    for kind in kinds:
        name, content_type, body, _, _ = kind
        before = db_writes()

        response = send(client, method, url, content_type, body)

        assert_error(response, *expected(kind, method, path, tenant_schema()))
        assert_nothing_written(before, f"{method} {path} with {name}")
    assert client.get("/api/v1/assistants").json()["count"] == 1  # still there


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), public_operations())
def test_every_public_operation_refuses_every_malformed_body(method, path, small_limits):
    client = Client(HTTP_HOST="localhost")
    for kind in MALFORMED:
        name, content_type, body, _, _ = kind
        before = db_writes()
        response = send(client, method, path, content_type, body)
        assert_error(response, *expected(kind, method, path, public_schema()))
        assert_nothing_written(before, f"{method} {path} with {name}")


def test_the_walk_sees_the_api():
    assert len(operations()) >= 50
    assert ("POST", "/api/v1/signup") in public_operations()


# -- the defaults, as an operator runs them -----------------------------------------------


@pytest.mark.django_db
def test_a_10_mb_json_body_is_413_in_the_error_format(org_a, client_for):
    body = json.dumps({"name": "x" * 10_000_000, "model": "local/extractive"}).encode()

    response = send(
        client_for(org_a, "admin"), "POST", "/api/v1/assistants", "application/json", body
    )

    error = assert_error(response, 413, "payload_too_large")
    assert "2,621,440" in error["message"]  # DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.mark.django_db
def test_a_form_field_past_the_limit_inside_an_upload_is_413(org_a, client_for, settings):
    """The multipart body is under the upload limit, but one of its form fields is over
    Django's field limit: Django raises RequestDataTooBig while parsing (it used to be an
    HTML 400)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    with schema_context(org_a.slug):
        collection = knowledge_services.collection_create(
            name="Uploads", embedding_model=catalog_model("local/all-minilm-l6-v2")
        )
    body = (
        b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
        + b"x" * 5000
        + b"\r\n--B--\r\n"
    )

    response = send(
        client_for(org_a, "admin"),
        "POST",
        f"/api/v1/collections/{collection.id}/documents",
        "multipart/form-data; boundary=B",
        body,
    )

    assert_error(response, 413, "payload_too_large")


@pytest.mark.django_db
def test_an_upload_within_the_upload_limit_is_not_refused_as_too_large(org_a, client_for):
    """Uploads have their own, larger request limit: a 3 MB file is more than JSON
    bodies may be, and is still accepted."""
    with schema_context(org_a.slug):
        collection = knowledge_services.collection_create(
            name="Uploads", embedding_model=catalog_model("local/all-minilm-l6-v2")
        )
    text = ("A line of the handbook about refunds and returns.\n" * 64_000).encode()
    assert len(text) > 3_000_000

    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(org_a, "admin").post(
        f"/api/v1/collections/{collection.id}/documents",
        {"files": [SimpleUploadedFile("handbook.txt", text, content_type="text/plain")]},
        format="multipart",
    )

    assert response.status_code == 201, response.content[:300]


@pytest.mark.django_db
def test_an_invalid_content_length_is_400(org_a, client_for):
    response = client_for(org_a, "admin").generic(
        "POST",
        "/api/v1/assistants",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH="twelve",
    )
    assert_error(response, 400, "bad_request")


@pytest.mark.django_db
def test_deep_nesting_that_python_can_parse_is_still_accepted_or_refused_cleanly(org_a, client_for):
    # 500 levels parse fine: the endpoint's validation answers, as for any wrong shape.
    response = send(
        client_for(org_a, "admin"), "POST", "/api/v1/assistants", "application/json", _deep(500)
    )
    assert_error(response, 400, "invalid")


# -- /api/ never answers HTML, DEBUG on or off ---------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_malformed_bodies_are_json_with_debug_on_or_off(debug, org_a, client_for, settings):
    settings.DEBUG = debug
    client = client_for(org_a, "admin")

    assert_error(
        send(client, "POST", "/api/v1/assistants", "application/json", _deep(5000)),
        400,
        "parse_error",
    )
    big = b'{"name": "' + b"x" * 3_000_000 + b'"}'
    assert_error(
        send(client, "POST", "/api/v1/assistants", "application/json", big),
        413,
        "payload_too_large",
    )
    assert_error(client.put("/api/v1/assistants", {}), 405, "method_not_allowed")
