import pytest

from tests.fixtures.slack_api import SlackApiServer


@pytest.fixture
def slack_api():
    """A Slack Web API server on 127.0.0.1 (``.url``, ``.messages``, ``.fail_with``, ``.refuse``, ``.recover``)."""
    server = SlackApiServer().start()
    yield server
    server.stop()
