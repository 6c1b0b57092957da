"""The README and docs/ name only what exists: every environment variable they document is read
by the code (and every one the code reads is documented), every sensor and schedule they name is
in the code location, and every list of compute profiles is the whole list."""

import re
from pathlib import Path

import pytest

from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import SLO, DeclarationError, Expectations, PredictionTable
from ml_platform.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[1]
DOCS = {path.relative_to(ROOT).as_posix(): path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
CODE = "\n".join(path.read_text() for path in sorted((ROOT / "ml_platform").rglob("*.py")))
VARIABLE = re.compile(r"ML_PLATFORM_[A-Z0-9_]*")


@pytest.fixture(scope="module")
def defs():
    return build_definitions("local")


def mentioned(pattern: str) -> dict[str, set[str]]:
    """Backticked names matching ``pattern`` in each document."""
    found: dict[str, set[str]] = {}
    for doc, text in DOCS.items():
        for name in re.findall(rf"`({pattern})`", text):
            found.setdefault(name, set()).add(doc)
    return found


def test_every_documented_environment_variable_is_read_by_the_code():
    read = set(VARIABLE.findall(CODE))
    documented = {name: doc for doc, text in DOCS.items() for name in VARIABLE.findall(text)}
    # A name ending in "_" is a documented prefix (ML_PLATFORM_SAGEMAKER_*): some variable read starts with it.
    unknown = {name: doc for name, doc in documented.items() if not (any(r.startswith(name) for r in read) if name.endswith("_") else name in read)}
    assert unknown == {}


def test_every_environment_variable_the_code_reads_is_documented():
    documented = {name for text in DOCS.values() for name in VARIABLE.findall(text)}
    assert {name for name in VARIABLE.findall(CODE) if name not in documented and not name.endswith("_")} == set()


def test_the_alerting_sensor_table_lists_every_sensor_of_the_code_location(defs):
    section = DOCS["docs/alerting.md"].split("## Sensors", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    assert listed == {sensor.name for sensor in defs.sensors}


def test_every_sensor_and_schedule_named_in_the_docs_exists(defs):
    sensors = {sensor.name for sensor in defs.sensors}
    schedules = {schedule.name for schedule in defs.schedules}
    assert {name: docs for name, docs in mentioned(r"[a-z][a-z0-9_]*_alerts").items() if name not in sensors} == {}
    assert {name: docs for name, docs in mentioned(r"[a-z][a-z0-9_]*_schedule").items() if name not in schedules} == {}
    for name in ("cross_product_launch_article_recs", "delayed_label_performance"):
        assert name in sensors and name in mentioned(name)


def profile_list(doc: str, after: str) -> set[str]:
    """The backticked names in the first parenthesis after ``after`` in a document."""
    text = DOCS[doc]
    start = text.index(after) + len(after)
    inside = text[text.index("(", start) + 1 : text.index(")", start)]
    return set(re.findall(r"`([a-z_]+)`", inside))


@pytest.mark.parametrize(
    ("doc", "after"),
    [("README.md", "**compute**: a profile from"), ("docs/operations.md", "**Pools, one per compute profile**")],
)
def test_every_list_of_all_compute_profiles_names_every_profile(doc, after):
    assert profile_list(doc, after) == set(PROFILES)


def test_the_profile_table_and_the_readmes_error_example_match_the_profiles():
    rows = DOCS["docs/compute.md"].split("| profile |", 1)[1].split("\n\n", 1)[0]  # the table, up to its blank line
    table = set(re.findall(r"^\| ([a-z_]+) \| ", rows, flags=re.MULTILINE))
    assert table == set(PROFILES)
    # The README quotes the error a bad profile gives: the real one, word for word.
    with pytest.raises(DeclarationError) as error:
        expectations = Expectations(key_columns=("user_id",))
        PredictionTable(name="article_recs", product="article_recs", owner="team:recs", slo=SLO("0 8 * * *"), compute="huge", expectations=expectations).asset_kwargs()
    assert f"`{error.value}`" in DOCS["README.md"]
