"""Fixtures for the whole suite: real PostgreSQL, real Redis, real Celery.

Two organizations (alpha, beta), each with an admin, a member and a viewer,
are created once per test session (schema created and migrated once) and
committed; every test runs in a transaction that is rolled back, so tests
never see each other's writes.
"""

from dataclasses import dataclass

import pytest
import pytest_django.fixtures
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from assistants.catalog.services import ai_models_sync
from tests.helpers import GOOD_KEY, PASSWORD, HostClient
from users import services
from users.models import Membership, Organization, Role, User


@dataclass
class Org:
    organization: Organization
    admin: User
    member: User
    viewer: User

    @property
    def host(self) -> str:
        return self.organization.host

    @property
    def slug(self) -> str:
        return self.organization.slug

    def user(self, role: str) -> User:
        return {"admin": self.admin, "member": self.member, "viewer": self.viewer}[role]


def _make_org(slug: str, name: str) -> Org:
    organization = Organization.objects.filter(schema_name=slug).first()
    if organization is None:
        organization = services.organization_create(name=name, slug=slug)
    # No plan limits by default; the limit tests set a plan of their own.
    Organization.objects.filter(pk=organization.pk).update(plan="enterprise")
    organization.plan = "enterprise"
    users = {}
    for role in Role.values:
        email = f"{role}@{slug}.test"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = services.user_create(email=email, password=PASSWORD, verified=True)
        Membership.objects.update_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        users[role] = user
    return Org(organization, users["admin"], users["member"], users["viewer"])


def pytest_configure(config):
    """Start this checkout's embedded PostgreSQL and Redis (unless DATABASE_URL /
    REDIS_URL name servers) before any test touches them: importing the settings
    starts nothing, so the suite does it here, once per process."""
    from config import localservices

    localservices.ensure_services()


# pytest-django creates the test database only when a selected test asks for ``db`` (or
# a ``django_db`` mark). Tests that commit instead (a real worker must see their rows:
# ``organizations`` with ``django_db_blocker``, ``committed``...) need it too: run alone,
# they would otherwise find no test database, or, worse, the development one. A test
# whose fixtures include the database set-up counts as needing the test database.
_databases_for_test = pytest_django.fixtures._get_databases_for_test


def _databases_with_setup(test):
    databases, serialized = _databases_for_test(test)
    if databases == () and "django_db_setup" in getattr(test, "fixturenames", ()):
        return ("default",), False
    return databases, serialized


pytest_django.fixtures._get_databases_for_test = _databases_with_setup


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, migrated, with the AI model catalog loaded. At the end, the
    connections that searches opened beside their caller's (ADR 0114) are closed before
    the test database is dropped."""
    from knowledge_base.retrieval import second_connection

    with django_db_blocker.unblock():
        ai_models_sync()
    _cache_keys_clear()
    yield
    second_connection.close_connections()


def _cache_keys_clear() -> None:
    """Empty this run's Redis key space (config/settings/test.py): counters such as
    the hour-long rate-limit windows would otherwise carry over from the last run."""
    from django.core.cache import caches

    patterns = {
        "default": f"*:{settings.CACHES['default']['KEY_PREFIX']}:*",  # schema:prefix:...
        "shared": f"{settings.CACHES['shared']['KEY_PREFIX']}:*",
    }
    for alias, pattern in patterns.items():
        client = caches[alias]._cache.get_client(write=True)
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


@pytest.fixture(scope="session")
def organizations(django_db_setup, django_db_blocker) -> dict[str, Org]:
    with django_db_blocker.unblock():
        return {
            "alpha": _make_org("alpha", "Alpha Corp ALPHA-CANARY"),
            "beta": _make_org("beta", "Beta Ltd"),
        }


def _commits(request) -> bool:
    """A test that writes outside pytest-django's rolled-back transaction: it reaches the
    test database (``organizations``, ``celery_worker``...: ``django_db_setup``) without
    the ``db`` fixture or mark, so what it writes is committed for the worker's later
    tests, unless removed."""
    names = request.fixturenames
    return (
        "django_db_setup" in names
        and not {"db", "transactional_db", "django_db_reset_sequences"} & set(names)
        and request.node.get_closest_marker("django_db") is None
    )


def _tenant_rows(schemas: list[str]) -> dict[str, int]:
    """Rows per table of these schemas (``schema.table``: count)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s)", [schemas]
        )
        tables = cursor.fetchall()
        if not tables:
            return {}
        counts = " UNION ALL ".join(
            f"SELECT %s, count(*) FROM {quote(schema)}.{quote(table)}"  # noqa: S608 - catalog names
            for schema, table in tables
        )
        cursor.execute(counts, [f"{schema}.{table}" for schema, table in tables])
        return dict(cursor.fetchall())


@pytest.fixture(autouse=True)
def _committed_rows_removed(request):
    """What a committing test (``_commits``) leaves in the worker's alpha and beta is
    gone when it ends. Its own fixtures remove what it made; the audit trail its
    services wrote (append-only, so no fixture removes it: collection.created,
    document.added...) is removed here. Anything else left fails the test: a
    rolled-back test later on the same worker would see those rows (an audit list once
    counted 46 events committed by the upload bombs before it)."""
    if not _commits(request):
        yield
        return
    from django.utils import timezone

    from audit.models import AuditEvent

    blocker = request.getfixturevalue("django_db_blocker")
    schemas = ["alpha", "beta"]
    with blocker.unblock():
        seeding = connection.in_atomic_block  # a module's seed, rolled back at its end
        before = {} if seeding else _tenant_rows(schemas)
    started = timezone.now()
    yield
    if seeding:
        return
    with blocker.unblock():
        for schema in (s for s in schemas if f"{s}.audit_auditevent" in before):
            with schema_context(schema):
                AuditEvent.objects.filter(created_at__gte=started).delete()
        after = _tenant_rows(schemas)
    left = {table: after.get(table, 0) - rows for table, rows in before.items()}
    left = {table: count for table, count in left.items() if count}
    assert not left, f"rows the test committed and left, or removed (table: rows): {left}"


@pytest.fixture
def org_a(organizations, db) -> Org:
    return organizations["alpha"]


@pytest.fixture
def org_b(organizations, db) -> Org:
    return organizations["beta"]


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (threads) consuming from the real Redis broker.

    It has its own database connection: it sees committed rows only.
    """
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with (
        django_db_blocker.unblock(),
        start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
        ) as worker,
    ):
        yield worker


@pytest.fixture(scope="session")
def _provider_server():
    from assistants.tests.providers.fake_server import FakeProviderServer

    server = FakeProviderServer(api_key=GOOD_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def provider_server(_provider_server, settings):
    """A local server speaking the OpenAI, Anthropic and Gemini wire protocols (the one
    allowed stand-in: the real SDKs talk to it over HTTP). Retries off for speed."""
    _provider_server.reset()
    settings.AI_MAX_RETRIES = 0
    settings.AI_REQUEST_TIMEOUT = 5.0
    return _provider_server


@pytest.fixture
def keep_test_transaction():
    """The real WSGI handler closes connections after each request, which would
    end the test's transaction; Django's test client disconnects these the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def keep_websocket_test_transaction(monkeypatch):
    """Channels closes "old" connections before each handler, which inside a test's
    transaction would end it; Django's test client disconnects the same hook for
    the same reason. Production keeps Channels' behaviour."""

    async def keep():
        return None

    monkeypatch.setattr("channels.consumer.aclose_old_connections", keep)
    monkeypatch.setattr("channels.generic.websocket.aclose_old_connections", keep)


@pytest.fixture(autouse=True)
def _public_schema_after_test():
    yield
    connection.set_schema_to_public()


@pytest.fixture
def collection(org_a):
    """A collection of alpha embedded by the real local model (small chunks)."""
    from knowledge_base import services as knowledge_services
    from tests.factories import local_embedding_model

    with schema_context(org_a.slug):
        return knowledge_services.collection_create(
            name="Handbook",
            embedding_model=local_embedding_model(),
            chunk_size=120,
            chunk_overlap=20,
            user=org_a.admin,
        )


@pytest.fixture
def tenant(org_a):
    """Run the test body inside organization alpha's schema."""
    with schema_context(org_a.slug):
        yield org_a


@pytest.fixture
def client_for():
    def make(org_or_host, user: User | str | None = None, api_key: str | None = None):
        host = org_or_host if isinstance(org_or_host, str) else org_or_host.host
        if isinstance(user, str):
            user = org_or_host.user(user)
        return HostClient(host, user, api_key)

    return make


@pytest.fixture
def public_client(db) -> HostClient:
    return HostClient("localhost")


# -- parallel runs (pytest-xdist, `make test`) -----------------------------------------

# Tests that share one expensive bed run on one worker (docs/adr/0019): node id prefix ->
# group; the groups are handed out in this order (the longest first). pytest-xdist's own `xdist_group` marks rename node ids, which pytest 9 no longer
# lets a plugin do, so the groups are named here, by path.
XDIST_GROUPS = {
    "tests/browser/": "browser",  # one platform and one Chromium
    "tests/faults/": "faults",  # one fault bed
    # One bot worker process (integrations/tests/conftest.py), started once.
    "integrations/tests/test_slack.py": "bots",
    "integrations/tests/test_teams.py": "bots",
    "tests/test_outages.py::test_postgres_down_is_503": "outages-postgres",  # one cluster copy
}


def _xdist_group(nodeid: str) -> str | None:
    for prefix, group in XDIST_GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return None


# The longest files outside the groups (docs/testing.md, "Where the time goes"), longest
# first: each goes whole to the next worker that asks for work, before the ordinary tests,
# so that none starts near the end and holds the run up.
# Not schemathesis's module: its 126 cases took minutes on one worker in a run at load
# 5 to 12; handed out in chunks, they spread over the workers.
SLOW_FILES = (
    "tests/test_runtime_image.py",
    "tests/security/test_extraction_limits.py",
    "tests/test_outages.py",
)


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup`: the groups above, each whole on one worker, then the slow
    files, then every other test as by `--dist load` (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.scheduling import GroupScheduling

    return GroupScheduling(
        config,
        log,
        group_of=_xdist_group,
        group_order=list(dict.fromkeys(XDIST_GROUPS.values())),
        slow_files=SLOW_FILES,
    )


# -- every test file runs -----------------------------------------------------------

_SKIPPED_DIRS = {".venv", "node_modules", ".data", ".git", "frontend", "staticfiles"}
_collected_files: set = set()


def pytest_itemcollected(item):
    _collected_files.add(item.path)


def _test_files(root) -> set:
    return {
        path
        for path in root.rglob("test_*.py")
        if not _SKIPPED_DIRS.intersection(path.relative_to(root).parts)
    }


def _missing_test_files(config, collected: set) -> list[str]:
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS or config.option.keyword:
        return []
    return sorted(
        str(p.relative_to(config.rootpath)) for p in _test_files(config.rootpath) - collected
    )


def _not_collected_message(missing: list[str]) -> str:
    return (
        "These test files are not collected (add their app to testpaths in "
        "pyproject.toml): " + ", ".join(missing)
    )


def pytest_collection_finish(session):
    """A whole run (``pytest`` with no paths: the testpaths) fails when a test file
    under the repository was not collected (e.g. an app missing from testpaths).
    Under pytest-xdist the controller checks (below): a worker would only crash."""
    if hasattr(session.config, "workerinput"):
        return
    missing = _missing_test_files(session.config, _collected_files)
    if missing:
        raise pytest.UsageError(_not_collected_message(missing))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """The same check on the controller, from the first worker's collection."""
    config = node.config
    if getattr(config, "_every_file_checked", False):
        return
    config._every_file_checked = True
    collected = {config.rootpath / nodeid.split("::", 1)[0] for nodeid in ids}
    missing = _missing_test_files(config, collected)
    if missing:
        pytest.exit(_not_collected_message(missing), returncode=pytest.ExitCode.USAGE_ERROR)
