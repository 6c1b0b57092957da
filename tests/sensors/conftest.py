from tests.checks.conftest import instance, warehouse  # noqa: F401  (shared fixtures)
