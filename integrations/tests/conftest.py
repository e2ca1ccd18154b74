"""Fixtures of the integrations app: the local Slack and Teams wire-level fakes, and a
real Celery worker process that answers the bots' events.

The bots' tests run the whole path as it runs in production: the event reaches the web
view in the test process, which stores it and queues the answering task on the real
Redis broker; a Celery worker started as a separate process (``bot_worker``) takes it,
runs the chat turn and talks to the fakes over HTTP. That worker sees the fakes'
addresses only through its environment (``SLACK_API_BASE``, ``TEAMS_TOKEN_URL``...) and
the rows the test committed, never through this process's memory. So these tests commit
their data (``committed``) and remove it afterwards.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from integrations.tests.fakes import slack as fake_slack

ROOT = Path(__file__).resolve().parents[2]
SLACK_STREAM_BUFFER_CHARS = 20
BOT_PLAN = "bots-tiny"


def wait_for(predicate, timeout=90.0, what="the worker"):
    """Poll ``predicate`` until it is true (the worker runs in its own process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def knowledge_assistant(org):
    """An assistant of ``org`` answering from the processed handbook. Its documents'
    ingestion tasks are queued on commit, so the bot worker may take one while the test
    processes the rest: wait for the worker's to finish too, or a question asked at once
    is answered without that document."""
    from knowledge_base.models import Document, DocumentStatus
    from tests.factories import make_assistant

    assistant = make_assistant(org)

    def processed():
        with schema_context(org.slug):
            return not Document.objects.exclude(status=DocumentStatus.COMPLETED).exists()

    wait_for(processed, timeout=30, what="the handbook's ingestion")
    return assistant


@pytest.fixture(scope="session")
def _slack_server():
    server = fake_slack.FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _teams_server():
    from integrations.tests.fakes.teams import FakeTeams

    server = FakeTeams().start()
    yield server
    server.stop()


def _slack_settings(server) -> dict:
    return {
        "SLACK_API_BASE": server.base_url,
        "SLACK_AUTHORIZE_URL": server.base_url.replace("/api/", "/oauth/v2/authorize"),
        "SLACK_SIGNING_SECRET": fake_slack.SIGNING_SECRET,
        "SLACK_CLIENT_ID": fake_slack.CLIENT_ID,
        "SLACK_CLIENT_SECRET": fake_slack.CLIENT_SECRET,
        "SLACK_STREAM_BUFFER_CHARS": SLACK_STREAM_BUFFER_CHARS,
    }


def _teams_settings(server) -> dict:
    return {
        "TEAMS_JWKS_URL": f"{server.base}/jwks",
        "TEAMS_TOKEN_URL": f"{server.base}/token",
        "TEAMS_UPDATE_INTERVAL": 0.0,
    }


@pytest.fixture(scope="package")
def bot_worker(_slack_server, _teams_server, django_db_setup, django_db_blocker, tmp_path_factory):
    """A Celery worker in a process of its own, on this pytest worker's test database
    and queue (it inherits PYTEST_XDIST_WORKER, hence the same Redis key prefix), told
    where the Slack and Teams fakes listen through its environment. Package-scoped: it
    consumes the queue this pytest worker shares with the in-process ``celery_worker``
    of other packages, whose tests set their settings in this process only."""
    with django_db_blocker.unblock():
        db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "TEST_CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        **{k: str(v) for k, v in _slack_settings(_slack_server).items()},
        **{k: str(v) for k, v in _teams_settings(_teams_server).items()},
        # What the ``provider_server`` fixture sets in this process, for the worker.
        "AI_MAX_RETRIES": "0",
        "AI_REQUEST_TIMEOUT": "5",
    }
    log_path = tmp_path_factory.mktemp("bot-worker") / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads",
             "-c", "4", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "WARNING"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        process.log_path = log_path
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture
def committed(organizations, django_db_blocker, bot_worker):
    """The test's writes are committed (the worker has its own connection); whatever the
    bots' tests create in alpha and beta is removed afterwards."""
    started = timezone.now()
    with django_db_blocker.unblock():
        try:
            yield organizations
        finally:
            assert bot_worker.poll() is None, (
                "the bot worker process died: " + bot_worker.log_path.read_text()[-3000:]
            )
            _remove_since(organizations, started)


def _remove_since(organizations, started) -> None:
    """Remove what the test made, until a pass finds nothing left: the worker may still
    be finishing work the test started (an answer, the history indexing that follows
    it) and write a row after a pass, or while one runs (an integrity error)."""
    from django.db import IntegrityError

    for _ in range(20):
        # An answer is indexed (and its embedding charged) by a task queued
        # INDEX_DELAY_SECONDS after it finishes: wait for that run's writes (each
        # answer's messages indexed, or ended otherwise) before removing.
        wait_for(
            lambda: not any(_unindexed_since(org, started) for org in organizations.values()),
            timeout=60,
            what="the answers' indexing",
        )
        try:
            removed = _remove_once(organizations, started)
        except IntegrityError:
            removed = 1
        if not removed:
            return
        time.sleep(0.5)
    raise AssertionError("the bot worker kept writing after the test ended")


def _unindexed_since(org, started) -> bool:
    """An answer of the test still streaming, or finished and not yet indexed (the
    task queued on its completion indexes it with its question)."""
    from chat.models import Message, MessageStatus, Role

    with schema_context(org.organization.schema_name):
        return (
            Message.objects.filter(created_at__gte=started, role=Role.ASSISTANT)
            .filter(
                Q(status=MessageStatus.STREAMING)
                | Q(status=MessageStatus.COMPLETE, search_pending=True)
            )
            .exists()
        )


def _remove_once(organizations, started) -> int:
    from assistants.models import Assistant, ProviderCredential
    from audit.models import AuditEvent
    from billing.models import Plan, UsageRecord
    from billing.plans import plan_cache_clear
    from chat.models import ChatSession
    from integrations.models import Integration, IntegrationProvider
    from knowledge_base.models import Collection
    from users.models import Organization

    orgs = [o.organization for o in organizations.values()]
    removed = Integration.objects.filter(
        organization__in=orgs,
        provider__in=[IntegrationProvider.SLACK, IntegrationProvider.TEAMS],
    ).delete()[0]
    removed += UsageRecord.objects.filter(organization__in=orgs, created_at__gte=started).delete()[
        0
    ]
    Organization.objects.filter(pk__in=[o.pk for o in orgs]).update(plan="enterprise")
    removed += Plan.objects.filter(code=BOT_PLAN).delete()[0]
    plan_cache_clear()
    for org in orgs:
        with schema_context(org.schema_name):
            for model in (ChatSession, Assistant, Collection, ProviderCredential, AuditEvent):
                removed += model.objects.filter(created_at__gte=started).delete()[0]
    return removed


@pytest.fixture
def slack(_slack_server, settings):
    """The fake Slack Web API + OAuth endpoint, with the platform's Slack app (in this
    process, the web side; the worker has the same values in its environment) pointed at
    it."""
    _slack_server.reset()
    _slack_server.workspaces.clear()
    for name, value in _slack_settings(_slack_server).items():
        setattr(settings, name, value)
    return _slack_server


@pytest.fixture
def teams(_teams_server, settings):
    """The fake Bot Framework: issuer + JWKS, token endpoint, connector (serviceUrl)."""
    from integrations.teams import auth

    _teams_server.reset()
    for name, value in _teams_settings(_teams_server).items():
        setattr(settings, name, value)
    auth._jwk_clients.clear()
    return _teams_server


@pytest.fixture
def alpha(committed):
    return committed["alpha"]


@pytest.fixture
def beta(committed):
    return committed["beta"]


@pytest.fixture(scope="session")
def _google_server():
    from integrations.tests.fakes.gmail import FakeGoogle

    server = FakeGoogle().start()
    yield server
    server.stop()


@pytest.fixture
def google(_google_server, settings, monkeypatch):
    """The fake Google OAuth token endpoint and Gmail API, with the platform's Google
    client pointed at it. (requests-oauthlib refuses a plain-http token URL unless told:
    the fake is local http, Google is https.)"""
    from integrations.tests.fakes import gmail as fake_gmail

    _google_server.reset()
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    settings.GOOGLE_OAUTH_CLIENT_ID = fake_gmail.CLIENT_ID
    settings.GOOGLE_OAUTH_CLIENT_SECRET = fake_gmail.CLIENT_SECRET
    settings.GOOGLE_OAUTH_AUTHORIZE_URL = f"{_google_server.base}/o/oauth2/auth"
    settings.GOOGLE_OAUTH_TOKEN_URL = f"{_google_server.base}/token"
    settings.GMAIL_API_BASE = f"{_google_server.base}/"
    return _google_server
