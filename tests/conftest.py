# Shared fixtures live in tests/fixtures; this registers them for every test directory.
import compileall
import sys
from pathlib import Path

pytest_plugins = ["tests.fixtures.environment"]

# How the two workers share the suite: a test file is one unit of work, except the production
# tests, which share one deployment (PostgreSQL, webserver, daemon) and so run as one unit on one
# worker, the deployment torn down after them. The longest units go first so the workers end together.
PRODUCTION = "tests/production/"
LONGEST_FIRST = (
    PRODUCTION,
    "tests/slo/test_alerts_30_days.py",
    "tests/compute/test_auto_memory_steps.py",
    "tests/monitoring/test_monitoring_runs.py",
    "tests/monitoring/test_small_table_runs.py",
    "tests/compute/test_iam_policies.py",
    "tests/compute/test_production_steps.py",
    "tests/monitoring/test_slow_change_runs.py",
    "tests/compute/test_cloud_backends.py",
    "tests/assets/test_products.py",
    "tests/schedules/test_cross_product_launch.py",
)


def pytest_configure(config):
    """Bytecode for the package and the test code locations, once, before the workers start: the
    suite starts hundreds of Python processes (step containers, run workers, the CLI) that import
    them, and an environment with PYTHONDONTWRITEBYTECODE=1 would have each compile them anew."""
    if sys.dont_write_bytecode and not hasattr(config, "workerinput"):
        root = Path(__file__).resolve().parents[1]
        for package in ("ml_platform", "tests"):
            compileall.compile_dir(root / package, quiet=1, workers=0)


def unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return PRODUCTION if path.startswith(PRODUCTION) else path


def pytest_collection_modifyitems(items):
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(unit_of(item.nodeid), len(rank)))  # stable: a file keeps its order


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling over our units (in collection order: ``--no-loadscope-reorder``)."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return UnitScheduling(config, log)
