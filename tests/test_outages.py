"""Outages answer cleanly and recover without a restart.

Redis: a throwaway redis-server the cache, the rate limits and the broker check are
pointed at, stopped under the running platform and started again. Chat and the rest of
the API keep working (the Redis counters fail open, the ledger is in PostgreSQL and
loses nothing); uploads and sign-up, which cannot be done safely, answer 503.

PostgreSQL: the platform under uvicorn against a second PostgreSQL cluster (a copy of
the suite's), stopped and started again: 503 in the error format while it is down, the
same server answering normally once it is back.

The decisions (what fails open, what closed) are in
docs/adr/0014-outages-and-malformed-requests.md.
"""

import time
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from billing.models import Plan, UsageRecord
from billing.plans import plan_cache_clear
from chat.models import Message
from knowledge_base import services as knowledge_services
from knowledge_base.models import Document
from tests.factories import make_assistant
from tests.helpers import assert_error, assert_nothing_written, db_writes
from tests.outages import Platform, PostgresCopy, ThrowawayRedis
from users.models import Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def throwaway_redis(settings):
    """The platform's Redis (cache, rate limits, token counters, broker) is this one."""
    server = ThrowawayRedis().start()
    caches = {}
    for alias, config in django_settings.CACHES.items():
        caches[alias] = {**config, "LOCATION": f"{server.url}/0"}
    settings.CACHES = caches
    settings.REDIS_URL = f"{server.url}/0"
    settings.CELERY_BROKER_URL = f"{server.url}/1"
    yield server
    server.close()


@pytest.fixture
def limited_plan(org_a):
    """Every Redis counter in play: request rates per key and organization, AI tokens
    per minute, and the monthly quotas (counted in PostgreSQL)."""
    plan = Plan.objects.create(
        code=f"t-{uuid.uuid4().hex[:8]}",
        name="Limited",
        requests_per_minute=1000,
        key_requests_per_minute=1000,
        tokens_per_minute=1_000_000,
        key_tokens_per_minute=1_000_000,
        monthly_messages=1000,
        max_documents=1000,
    )
    Organization.objects.filter(pk=org_a.organization.pk).update(plan=plan.code)
    plan_cache_clear()
    yield plan
    plan_cache_clear()


def _chat(client, assistant, message):
    return client.post(
        "/api/v1/chat",
        {"assistant": str(assistant.id), "message": message, "stream": False},
        format="json",
    )


def _ledger(org) -> int:
    return UsageRecord.objects.filter(organization=org.organization).count()


def _messages(org) -> int:
    with schema_context(org.slug):
        return Message.objects.count()


def test_chat_keeps_answering_while_redis_is_down_and_the_ledger_loses_nothing(
    org_a, client_for, throwaway_redis, limited_plan
):
    assistant = make_assistant(org_a, with_knowledge=False)
    client = client_for(org_a, "admin")
    assert _chat(client, assistant, "Before the outage?").status_code == 200
    ledger, messages = _ledger(org_a), _messages(org_a)

    throwaway_redis.stop()
    response = _chat(client, assistant, "During the outage?")

    assert response.status_code == 200, response.content[:500]
    assert response.json()["message"]["status"] == "complete"
    assert _ledger(org_a) == ledger + 1  # the ledger (PostgreSQL) has the call
    assert _messages(org_a) == messages + 2  # question and answer

    throwaway_redis.start()  # empty: what was counted before is gone
    response = _chat(client, assistant, "After the outage?")

    assert response.status_code == 200
    assert _ledger(org_a) == ledger + 2
    # Counting resumed in the same process, without a restart.
    keys = redis.Redis.from_url(throwaway_redis.url).keys("*ai-tokens*")
    assert keys, "AI tokens are counted again once Redis is back"


def test_reads_and_writes_keep_working_while_redis_is_down(
    org_a, client_for, throwaway_redis, limited_plan
):
    assistant = make_assistant(org_a, with_knowledge=False)
    client = client_for(org_a, "member")

    throwaway_redis.stop()

    assert client.get("/api/v1/assistants").status_code == 200
    response = client.patch(
        f"/api/v1/assistants/{assistant.id}", {"description": "Changed"}, format="json"
    )
    assert response.status_code == 200, response.content[:300]
    assert client.get("/api/v1/usage/quotas").status_code == 200


def test_rate_limits_apply_again_once_redis_is_back(
    org_a, client_for, throwaway_redis, limited_plan
):
    Plan.objects.filter(pk=limited_plan.pk).update(requests_per_minute=3)
    plan_cache_clear()
    client = client_for(org_a, "viewer")

    throwaway_redis.stop()
    assert [client.get("/api/v1/assistants").status_code for _ in range(5)] == [200] * 5

    throwaway_redis.start()
    statuses = [client.get("/api/v1/assistants").status_code for _ in range(5)]
    assert statuses[:3] == [200] * 3 and 429 in statuses


def test_uploads_answer_503_while_the_broker_is_down_and_store_nothing(
    org_a, client_for, throwaway_redis
):
    with schema_context(org_a.slug):
        collection = knowledge_services.collection_create(
            name="Handbook", embedding_model=_embedding_model()
        )
        document = knowledge_services.document_create_text(
            collection=collection, title="Stored before", text="Refunds within 30 days."
        ).document
    client = client_for(org_a, "member")
    base = f"/api/v1/collections/{collection.id}/documents"

    throwaway_redis.stop()
    before = db_writes()
    text = client.post(f"{base}/text", {"title": "T", "text": "Returns."}, format="json")
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = client.post(
        base,
        {"files": [SimpleUploadedFile("a.txt", b"Shipping takes two days.", "text/plain")]},
        format="multipart",
    )
    reprocess = client.post(f"{base}/{document.id}/reprocess")

    for response in (text, upload, reprocess):
        error = assert_error(response, 503, "service_unavailable")
        assert "Retry" in error["message"]
        assert int(response["Retry-After"]) > 0
    assert_nothing_written(before, "uploads while the broker is down")

    throwaway_redis.start()
    response = client.post(f"{base}/text", {"title": "T", "text": "Returns."}, format="json")
    assert response.status_code == 201, response.content[:300]
    with schema_context(org_a.slug):
        assert Document.objects.filter(collection=collection).count() == 2


def test_sign_up_fails_closed_while_redis_is_down(throwaway_redis):
    """Its abuse limit cannot be counted: refused (503), nothing created."""
    client = Client(HTTP_HOST="localhost")
    body = {
        "email": "founder@outage.test",
        "password": "correct-horse-battery-staple",
        "organization_name": "Outage Inc",
        "slug": "outageinc",
    }

    throwaway_redis.stop()
    before = db_writes()
    response = client.post("/api/v1/signup", body, content_type="application/json")

    assert_error(response, 503, "service_unavailable")
    assert_nothing_written(before, "sign-up while Redis is down")

    throwaway_redis.start()
    response = client.post("/api/v1/signup", body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]


def test_readyz_names_redis_while_it_is_down_and_recovers(throwaway_redis):
    client = Client()
    assert client.get("/readyz").status_code == 200

    throwaway_redis.stop()
    response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True and checks["redis"]["ok"] is False

    throwaway_redis.start()
    assert client.get("/readyz").status_code == 200


def _embedding_model():
    from tests.factories import catalog_model

    return catalog_model("local/all-minilm-l6-v2")


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_copy(django_db_setup, organizations, django_db_blocker):
    """A second cluster holding the test database as committed (alpha, beta...)."""
    copy = PostgresCopy().create()
    copy.start()
    yield copy
    copy.close()


@pytest.mark.parametrize(
    ("settings_module", "conn_max_age", "pool_size"),
    # The web server pools its connections by default (config/asgi.py, ADR 0021);
    # persistent connections exist only without the pool, so that variant turns it off.
    [("config.settings.test", "0", "20"), ("tests.outage_debug_settings", "60", "0")],
    ids=["debug-off-pooled-connections", "debug-on-persistent-connections"],
)
def test_postgres_down_is_503_and_the_same_server_recovers(
    settings_module, conn_max_age, pool_size, postgres_copy, org_a
):
    database = connection.settings_dict["NAME"]
    platform = Platform(
        {
            "DJANGO_SETTINGS_MODULE": settings_module,
            "DATABASE_URL": postgres_copy.url(database),
            "REDIS_URL": django_settings.REDIS_URL,
            "DB_CONN_MAX_AGE": conn_max_age,
            "DB_POOL_MAX_SIZE": pool_size,
            # Long, so that a request waiting for the pool while PostgreSQL is down
            # would show: the pool's circuit answers at once instead (ADR 0058).
            "DB_POOL_TIMEOUT": "60",
        }
    ).start()
    try:
        status, _, body = platform.request("GET", "/api/v1/assistants", host=org_a.host)
        assert status == 401, (status, body)  # a normal answer: the organization exists

        postgres_copy.stop()
        started = time.monotonic()
        status, headers, body = platform.request("GET", "/api/v1/assistants", host=org_a.host)
        assert status == 503, (status, body, platform.output())
        # not after DB_POOL_TIMEOUT (60 s): a generous bound for a loaded machine
        assert time.monotonic() - started < 20
        assert body["error"]["code"] == "service_unavailable"
        assert int(headers["retry-after"]) > 0
        status, _, body = platform.request(
            "POST", "/api/v1/signup", body={"email": "x@example.test"}
        )
        assert (status, body["error"]["code"]) == (503, "service_unavailable")
        status, _, body = platform.request("GET", "/readyz")
        assert status == 503
        assert body["checks"]["database"]["ok"] is False and body["checks"]["redis"]["ok"]
        if settings_module == "config.settings.test":
            status, _, page = platform.request("GET", "/", host=org_a.host)
            assert status == 503 and "unavailable" in page  # pages too, not only the API

        postgres_copy.start()
        # The circuit stays open CIRCUIT_OPEN_SECONDS after its last failed check, and a
        # server just started may still refuse a moment: recovery within a few seconds.
        back_by = time.monotonic() + 10
        status, _, body = platform.request("GET", "/readyz")
        while status != 200 and time.monotonic() < back_by:
            time.sleep(0.1)
            status, _, body = platform.request("GET", "/readyz")
        assert status == 200, body
        status, _, body = platform.request("GET", "/api/v1/assistants", host=org_a.host)
        assert status == 401, (status, body)  # back, in the same process
    finally:
        platform.close()
