import pytest

from workflows.tests.receiver import Receiver


@pytest.fixture
def receiver():
    """A local HTTP server the http_request steps call (records what it received)."""
    server = Receiver().start()
    yield server
    server.stop()
