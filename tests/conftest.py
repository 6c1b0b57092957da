import dagster as dg
import pytest

from ml_platform.definitions import build_definitions
from tests.fixtures.slack_api import SlackApiServer


@pytest.fixture
def local_env(tmp_path, monkeypatch):
    """A private local environment: warehouse and Dagster instance under tmp_path."""
    monkeypatch.setenv("ML_PLATFORM_ENV", "local")
    monkeypatch.setenv("ML_PLATFORM_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def defs(local_env) -> dg.Definitions:
    return build_definitions()


@pytest.fixture
def instance(local_env):
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def slack_api():
    """A Slack Web API server on 127.0.0.1 (``.url``, ``.messages``, ``.fail_with``, ``.refuse``, ``.recover``)."""
    server = SlackApiServer().start()
    yield server
    server.stop()
