"""Knowledge-base fixtures. Builders (documents, processing what the API queued)
are in tests/factories.py; the ``collection`` fixture is the root conftest's."""

import pytest

from knowledge_base.tests.web_site import Site


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Stored files go to a per-test folder, so tests can see what is left behind."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()
