"""Every alert kind the code location raises has a runbook entry: what it means, where to look,
when it resolves. The kinds are read from the alert-sensor registry, so a new alert module is
covered the moment it is registered."""

import re
from pathlib import Path

from ml_platform.alerting import Kind
from ml_platform.alerting.alert import kind_name
from ml_platform.assembly import ALERT_SENSORS

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PARTS = ("**Means.**", "**Look at", "**Resolves**")


def runbook_entries(text: str) -> dict[str, str]:
    """``### `kind` (severity)`` sections of the runbook: kind -> its text."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^### `(\w+)`[^\n]*\n(.*?)(?=^### |^## |\Z)", text, re.S | re.M)}


def runbook_problems(kinds, text: str) -> list[str]:
    """What is missing for ``kinds`` in the runbook ``text``: a whole entry, or one of its parts."""
    entries = runbook_entries(text)
    problems = []
    for kind in map(kind_name, kinds):
        if kind not in entries:
            problems.append(f"no runbook entry for {kind}")
        else:
            problems += [f"runbook entry {kind} has no {part} part" for part in PARTS if part not in entries[kind]]
    return problems


def registered_kinds() -> list[str]:
    return [kind_name(kind) for spec in ALERT_SENSORS for kind in spec.kinds]


def test_every_registered_alert_kind_has_a_runbook_entry():
    assert runbook_problems(registered_kinds(), RUNBOOK.read_text()) == []


def test_every_platform_kind_is_raised_by_exactly_one_registered_sensor():
    kinds = registered_kinds()
    assert sorted(kinds) == sorted(k.value for k in Kind)  # none raised twice, none without its sensor


def test_a_kind_without_a_runbook_entry_is_named():
    assert runbook_problems(["stale_model"], RUNBOOK.read_text()) == ["no runbook entry for stale_model"]
