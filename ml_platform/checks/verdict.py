"""A check's outcome as plain data, so the logic is testable without Dagster and the
check factory turns each one into an ``AssetCheckResult`` the same way."""

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

PASS, WARN, ERROR = "pass", "warn", "error"


@dataclass(frozen=True)
class Verdict:
    check: str  # the asset check's name
    outcome: str  # PASS, WARN or ERROR
    summary: str  # one line shown in the UI and in alerts
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    def to_result(self, asset_key: dg.AssetKey, partition: str | None = None) -> dg.AssetCheckResult:
        metadata = {"summary": self.summary, **self.metadata}
        if partition is not None:
            metadata["partition"] = partition
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=self.check,
            passed=self.passed,
            severity=dg.AssetCheckSeverity.WARN if self.outcome == WARN else dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
            description=self.summary,
        )
