"""Fixtures of the integrations app: the local Slack (and Teams) wire-level fakes."""

import pytest

from integrations.tests.fakes import slack as fake_slack


@pytest.fixture(scope="session")
def _slack_server():
    server = fake_slack.FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def slack(_slack_server, settings):
    """The fake Slack Web API + OAuth endpoint, with the platform's Slack app pointed at it."""
    _slack_server.reset()
    _slack_server.workspaces.clear()
    settings.SLACK_API_BASE = _slack_server.base_url
    settings.SLACK_AUTHORIZE_URL = _slack_server.base_url.replace("/api/", "/oauth/v2/authorize")
    settings.SLACK_SIGNING_SECRET = fake_slack.SIGNING_SECRET
    settings.SLACK_CLIENT_ID = fake_slack.CLIENT_ID
    settings.SLACK_CLIENT_SECRET = fake_slack.CLIENT_SECRET
    settings.SLACK_STREAM_BUFFER_CHARS = 20
    return _slack_server


@pytest.fixture
def answers_inline():
    """The answering task runs where it is queued, through Celery's own eager path, in
    the test's transaction (a worker would not see the test's uncommitted rows). The
    benchmark runs the same events through real workers (bench/integrations.py)."""
    from config.celery import app

    before = {k: app.conf.get(k) for k in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(before)


@pytest.fixture(scope="session")
def _teams_server():
    from integrations.tests.fakes.teams import FakeTeams

    server = FakeTeams().start()
    yield server
    server.stop()


@pytest.fixture
def teams(_teams_server, settings):
    """The fake Bot Framework: issuer + JWKS, token endpoint, connector (serviceUrl)."""
    from integrations.teams import auth

    _teams_server.reset()
    settings.TEAMS_JWKS_URL = f"{_teams_server.base}/jwks"
    settings.TEAMS_TOKEN_URL = f"{_teams_server.base}/token"
    settings.TEAMS_UPDATE_INTERVAL = 0.0
    auth._jwk_clients.clear()
    return _teams_server


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
