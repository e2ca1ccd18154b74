"""The fault bed: a platform of its own (tests/faults/harness.py), set up once for the
fault tests and torn down with its servers and data at the end."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from assistants.tests.providers.fake_server import FakeProviderServer
from tests.faults.harness import SLUG, FaultBed
from tests.helpers import GOOD_KEY
from tests.shell import Shell

SETUP = """
import json
from django_tenants.utils import schema_context
from assistants import services as assistant_services
from assistants.catalog.models import AIModel
from audit.services import Actor
from integrations.services import api_key_create
from knowledge_base import services as knowledge_services
from users import services
from users.models import Membership, Organization
organization = services.organization_create(name="Faults Inc.", slug={slug!r})
Organization.objects.filter(pk=organization.pk).update(plan="enterprise")
organization.refresh_from_db()
admin = services.user_create(email="admin@faults.example", password="x-Secret-123", verified=True)
Membership.objects.create(user=admin, organization=organization, role="admin")
with schema_context({slug!r}):
    assistant_services.credential_create(
        provider="openai", api_key={key!r}, base_url={base_url!r}
    )
    collection = knowledge_services.collection_create(
        name="Faults", embedding_model=AIModel.objects.get(model_id="all-minilm-l6-v2"),
        chunk_size=60, chunk_overlap=10,
    )
    assistant = assistant_services.assistant_create(
        user=admin, name="Streamer",
        model=AIModel.objects.get(provider="openai", model_id="gpt-4o-mini"),
        collections=[],
    )
    _, secret = api_key_create(
        organization=organization, name="faults", scopes=["admin"], actor=Actor(user=admin)
    )
print("IDS=" + json.dumps({{"collection": str(collection.id), "assistant": str(assistant.id),
                           "api_key": secret, "organization": organization.pk}}))
"""


# Package fixtures: under pytest-xdist the fault tests are one group on one worker
# (XDIST_GROUPS in the root conftest.py), and the bed stops once the worker leaves them.
@pytest.fixture(scope="package")
def provider():
    server = FakeProviderServer(api_key=GOOD_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def slack():
    """A local Slack for workflows' notify steps; the bed's processes get its address."""
    import os

    from integrations.tests.fakes.slack import FakeSlack

    server = FakeSlack().start()
    previous = os.environ.get("SLACK_API_BASE")
    os.environ["SLACK_API_BASE"] = server.base_url
    yield server
    server.stop()
    if previous is None:
        os.environ.pop("SLACK_API_BASE", None)
    else:
        os.environ["SLACK_API_BASE"] = previous


@pytest.fixture(scope="package")
def bed(provider, slack):
    workdir = Path(tempfile.mkdtemp(prefix="faults-"))
    bed = FaultBed(workdir)
    try:
        bed.start_services()
        # One Django process for the three set-up steps (tests/shell.py).
        shell = Shell(bed.env, workdir / "logs" / "shell.log")
        try:
            shell.call_command("migrate_schemas", "--executor=standard", "-v", "0")
            shell.call_command("sync_ai_models")
            out = shell.run(SETUP.format(slug=SLUG, key=GOOD_KEY, base_url=f"{provider.url}/v1"))
        finally:
            shell.close()
        line = next(line for line in out.splitlines() if line.startswith("IDS="))
        bed.ids.update(json.loads(line[4:]))
        for name in ("web", "worker", "beat"):
            bed.start(name)
        bed.wait_web_ready()
        bed.wait_worker_ready()
        yield bed
    except BaseException:
        for name in ("web", "worker", "beat"):
            print(f"--- {name} log ---\n{bed.log(name)}")
        raise
    finally:
        bed.stop_all()
        bed.stop_services()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def platform(bed, request):
    """The bed with every process running again after the test (whatever it broke)."""
    yield bed
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for name in ("web", "worker", "beat"):
            print(f"--- {name} log ---\n{bed.log(name)}")
    bed.start_services()
    for name in ("web", "worker", "beat"):
        if not bed.alive(name):
            if name in bed.processes:
                bed.stop(name)
            bed.start(name)
    bed.wait_web_ready()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
