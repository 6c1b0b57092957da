"""Data-quality checks at scale: build time, history-check evaluation time and storage calls.

Declares N prediction tables with the real declaration API, injects a history of row counts
for each, evaluates every table's history checks against a real (SQLite) Dagster instance,
records the results together with the content checks' results (so every check of every table
has an evaluation; every 10th table fails a row-count check, every 25th its score range), then
ticks the data-quality alert sensor over all of them three times, the way the daemon would
(cursor carried): ``cold`` (empty cursor: raises every incident), ``steady`` (nothing changed),
``after_fixes`` (the failing checks of 50 tables pass again: resolutions). Storage calls are
counted by wrapping the instance's event log, run and schedule storages (outermost calls only).

    python benchmarks/quality_checks.py [--tables 1000] [--days 8]

Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from contextlib import contextmanager
from datetime import date, timedelta

warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ml_platform.alerting import AlertSink  # noqa: E402
from ml_platform.checks import row_count, sanity  # noqa: E402
from ml_platform.checks.alerts import data_quality_alerts  # noqa: E402
from ml_platform.checks.quality_checks import build_quality_checks, evaluate_history  # noqa: E402
from ml_platform.checks.verdict import PASS, Verdict  # noqa: E402
from ml_platform.declaration import SLO, Expectations, PredictionTable, declared_specs  # noqa: E402

DAY = "2026-03-20"
ROW_DROP_EVERY = 10  # every 10th table loses half its rows on DAY (row_count_change fails)
OUT_OF_RANGE_EVERY = 25  # every 25th table has scores above its range (score_range fails)
FIXED = 50  # failing tables whose checks pass again before the third tick


def declare(n: int) -> list[PredictionTable]:
    return [
        PredictionTable(
            name=f"predictions_{i:04d}",
            product=f"product_{i % 50:02d}",
            owner="team:bench",
            slo=SLO("0 8 * * *", timezone="Asia/Tokyo"),
            compute="small",
            expectations=Expectations(key_columns=("user_id", "item_id"), score_column="score", score_range=(0.0, 1.0), top_k=10),
        )
        for i in range(n)
    ]


def as_asset(declaration: PredictionTable) -> dg.AssetsDefinition:
    @dg.asset(**declaration.asset_kwargs())
    def _table() -> None: ...

    return _table


class StorageCalls:
    """Counts outermost calls on the storages' read methods, per asset key argument."""

    def __init__(self, *storages):
        self.total, self.by_asset, self.depth = 0, {}, 0
        for storage in storages:
            for name in dir(type(storage)):
                if name.startswith(("get_", "fetch_", "has_", "all_")) and callable(getattr(storage, name, None)):
                    setattr(storage, name, self._wrap(getattr(storage, name)))

    def _wrap(self, method):
        def counted(*args, **kwargs):
            if self.depth == 0:
                self.total += 1
                key = getattr(args[0], "asset_key", args[0]) if args else None
                if isinstance(key, dg.AssetKey):
                    self.by_asset[key] = self.by_asset.get(key, 0) + 1
            self.depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self.depth -= 1

        return counted

    @contextmanager
    def measuring(self):
        self.total, self.by_asset = 0, {}
        yield self


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--days", type=int, default=8, help="earlier partitions of injected history per table")
    args = parser.parse_args()
    out: dict = {"tables": args.tables, "history_days": args.days}

    started = time.perf_counter()
    declarations = declare(args.tables)
    assets = [as_asset(d) for d in declarations]
    checks = build_quality_checks(declared_specs(assets))
    out["build_checks_s"] = round(time.perf_counter() - started, 2)
    out["check_definitions"] = len(checks)
    out["checks_per_table"] = sum(len(c.check_keys) for c in checks) // args.tables
    for label, with_checks in (("resolve_graph_without_checks_s", []), ("resolve_graph_with_checks_s", checks)):
        started = time.perf_counter()
        dg.Definitions(assets=assets, asset_checks=with_checks).resolve_asset_graph()
        out[label] = round(time.perf_counter() - started, 2)

    out["content_checks"] = content_check_time(declarations[0].expectations, users=10_000)

    # The instance lives on a RAM disk when there is one: this measures our reads, not fsync.
    ram = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=ram) as home, dg.instance_for_test(temp_dir=home) as instance:
        started = time.perf_counter()
        first = date.fromisoformat(DAY) - timedelta(days=args.days)
        for i, declaration in enumerate(declarations):
            for d in range(args.days + 1):
                partition = (first + timedelta(days=d)).isoformat()
                rows = 10_000 if d < args.days or i % ROW_DROP_EVERY else 5_000
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(declaration.name, partition=partition, metadata={"dagster/partition_row_count": rows})
                )
        out["inject_history_s"] = round(time.perf_counter() - started, 1)

        calls = StorageCalls(instance.event_log_storage)
        durations, per_asset, failed = [], [], 0
        content = content_verdicts(declarations[0].expectations)
        for i, declaration in enumerate(declarations):
            key = dg.AssetKey(declaration.name)
            with calls.measuring():
                started = time.perf_counter()
                verdicts = evaluate_history(instance, key, declaration.partitions_def, DAY, declaration.expectations.row_count)
                durations.append(time.perf_counter() - started)
                per_asset.append(calls.total)
            failed += any(not v.passed for v in verdicts)
            record_verdicts(instance, key, [*verdicts, *content[i % OUT_OF_RANGE_EVERY == 0]])
        durations_ms = sorted(1000 * d for d in durations)
        out["history_check_evaluation"] = {
            "evaluations": len(durations),
            "total_s": round(sum(durations), 2),
            "p50_ms": round(statistics.median(durations_ms), 2),
            "p95_ms": round(durations_ms[int(0.95 * len(durations_ms)) - 1], 2),
            "storage_calls_per_asset_max": max(per_asset),
            "storage_calls_per_asset_mean": round(statistics.mean(per_asset), 2),
            "tables_failing": failed,
        }

        defs = dg.Definitions(assets=assets, asset_checks=checks, sensors=[data_quality_alerts], resources={"alert_sink": _QuietSink()})
        out["alert_sensor"] = alert_sensor_ticks(instance, defs, declarations, content[False])
    print(json.dumps(out, indent=2))


def record_verdicts(instance: dg.DagsterInstance, key: dg.AssetKey, verdicts) -> None:
    """Store check results as a check op would (one evaluation event per check)."""
    for verdict in verdicts:
        result = verdict.to_result(key, DAY)
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=verdict.check,
                passed=verdict.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=verdict.summary,
            )
        )


def content_verdicts(expectations) -> dict[bool, list]:
    """The content checks' verdicts on a small top-10 table: {failing: verdicts}; the failing
    table has scores above the declared range."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(100), 10), "item_id": np.arange(1000), "score": rng.random(1000)})
    broken = frame.assign(score=frame["score"] + 1.0)
    return {False: sanity.assess_table(frame, expectations), True: sanity.assess_table(broken, expectations)}


def alert_sensor_ticks(instance: dg.DagsterInstance, defs: dg.Definitions, declarations, passing_content) -> dict:
    """Three ticks with the cursor carried between them, as the daemon would run them."""
    graph = defs.resolve_asset_graph()
    evaluated = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(graph.asset_check_keys))
    out = {"check_keys": len(graph.asset_check_keys), "check_keys_evaluated": len(evaluated)}
    calls = StorageCalls(instance.event_log_storage, instance.run_storage, instance.schedule_storage)
    cursor = None
    failing = [d for i, d in enumerate(declarations) if i % ROW_DROP_EVERY == 0 or i % OUT_OF_RANGE_EVERY == 0]
    for tick in ("cold", "steady", "after_fixes"):
        if tick == "after_fixes":
            for declaration in failing[:FIXED]:  # their checks pass again (as after a re-run)
                key = dg.AssetKey(declaration.name)
                passing = [Verdict(c, PASS, "back to normal") for c in (row_count.CHANGE_CHECK, row_count.DECLINE_CHECK)]
                record_verdicts(instance, key, [*passing, *passing_content])
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources={"alert_sink": _QuietSink()})
        with calls.measuring():
            started = time.perf_counter()
            result = data_quality_alerts.evaluate_tick(context)
            seconds = time.perf_counter() - started
        cursor = result.cursor
        out[tick] = {
            "seconds": round(seconds, 2),
            "storage_calls": calls.total,
            "skip_reason": result.skip_message,
            "cursor_kib": round(len(cursor or "") / 1024, 1),
        }
    out["tables_failing"] = len(failing)
    return out


def content_check_time(expectations, users: int) -> dict:
    """Null, duplicate, range and top-k checks on a top-10 table of ``users`` users (no storage call)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(users), 10),
            "item_id": rng.integers(0, 10**9, users * 10),
            "score": rng.random(users * 10),
        }
    )
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        verdicts = sanity.assess_table(frame, expectations)
        runs.append(time.perf_counter() - started)
    return {"rows": len(frame), "checks": len(verdicts), "median_ms": round(1000 * statistics.median(runs), 1)}


class _QuietSink(AlertSink):
    def send(self, alert) -> None:  # delivery cost is the Slack sink's business, not the checks'
        pass


if __name__ == "__main__":
    main()
