import pytest
from django.test import Client


def test_healthz_answers_without_the_database_or_a_known_host():
    response = Client(HTTP_HOST="anything.example").get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_check(org_a):
    body = Client(HTTP_HOST=org_a.host).get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


@pytest.mark.django_db
def test_readyz_is_503_and_names_the_failing_dependency(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert (
        body["checks"]["redis"]["ok"] is False and "Connection" in body["checks"]["redis"]["error"]
    )
