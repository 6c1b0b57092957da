"""One production-shaped deployment for the production tests (one unit of work, on one worker): PostgreSQL, webserver and daemon.

Later tests that need the running instance (sensor ticks, the UI) take ``deployment``.
"""

import pytest

from tests.fixtures.dagster_deployment import DagsterDeployment, dagster_deployment
from tests.fixtures.postgres import find_bin_dir, postgres_server
from tests.fixtures.schedule_catch_up import backdate_schedule

# The products whose schedules the daemon runs at start, both at the same (caught-up) 04:00 tick:
# article_recs reads related_content's table, so its consumer waits for it (launched on data).
SCHEDULED_PRODUCT = "related_content"
SCHEDULED_PRODUCTS = (SCHEDULED_PRODUCT, "article_recs")
# A first day run with the local CLI before the daemon starts: the weekly model exists, as it would
# after a deployment's first Monday.
FIRST_DAY = "2026-02-01"


@pytest.fixture(scope="package")  # torn down when the production tests are done
def postgres():
    if find_bin_dir() is None:
        pytest.fail("PostgreSQL server binaries missing: run scripts/ci_system_deps.sh")
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="package")  # torn down when the production tests are done
def deployment(postgres) -> DagsterDeployment:
    with dagster_deployment(postgres) as deployment:
        deployment.start_webserver()
        deployment.cli("ml-platform", "run", "--date", FIRST_DAY, *(f"--product={p}" for p in SCHEDULED_PRODUCTS))
        for product in SCHEDULED_PRODUCTS:
            backdate_schedule(deployment, f"{product}_schedule")
        deployment.start_daemon()
        yield deployment
