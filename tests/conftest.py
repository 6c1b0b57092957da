# Shared fixtures live in tests/fixtures; this registers them for every test directory.
pytest_plugins = ["tests.fixtures.environment"]
