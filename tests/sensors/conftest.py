from tests.checks.conftest import instance, warehouse  # noqa: F401  (shared fixtures)
from tests.checks.slack_api import slack_api  # noqa: F401
