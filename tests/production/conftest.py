"""One production-shaped deployment per test session: PostgreSQL, webserver and daemon.

Later tests that need the running instance (sensor ticks, the UI) take ``deployment``.
"""

import pytest

from tests.fixtures.dagster_deployment import DagsterDeployment, dagster_deployment
from tests.fixtures.postgres import find_bin_dir, postgres_server
from tests.fixtures.schedule_catch_up import backdate_schedule

# The product whose schedule the daemon runs at start (cheapest of the example products).
SCHEDULED_PRODUCT = "related_content"


@pytest.fixture(scope="session")
def postgres():
    if find_bin_dir() is None:
        pytest.fail("PostgreSQL server binaries missing: run scripts/ci_system_deps.sh")
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def deployment(postgres) -> DagsterDeployment:
    with dagster_deployment(postgres) as deployment:
        deployment.start_webserver()
        backdate_schedule(deployment, f"{SCHEDULED_PRODUCT}_schedule")
        deployment.start_daemon()
        yield deployment
