"""SLO sensor tick time and storage calls at 300 and 1,000 tables. Prints JSON.

    python benchmarks/slo_sensor_tick.py [--tables 300 1000] [--repeat 3]

A synthetic catalog of N daily prediction tables is declared with the real declaration API
(four deadlines, Asia/Tokyo) in a fresh SQLite instance (on tmpfs when available). Yesterday's and today's partitions are
materialized for every table except 5 % (breaches, whose causes must be found), and the
freshness state of every table is stored as the freshness daemon would. Then three ticks:

* ``cold``: empty cursor (first tick after deploy): reads the window's history, builds the at-risk
  history (p90 durations, drift; rebuilt every 6 h) and raises alerts;
* ``steady``: 30 s later, nothing changed (the common case);
* ``after_updates``: 50 late partitions arrived since the last tick (resolutions).

Storage queries are counted by wrapping every public method of the instance's event-log, run and
schedule storages (nested reads included; connection and schema helpers left out).
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.freshness import (  # benchmark only: seed daemon states
    FreshnessState,
    FreshnessStateChange,
)

from ml_platform.alerting import AlertSink
from ml_platform.compute.step_usage import DURATION_KEY, OUTCOME_KEY, SUCCEEDED
from ml_platform.declaration import SLO, Expectations, PredictionTable
from ml_platform.slo.alerts import evaluate_slo_tick

TZ = ZoneInfo("Asia/Tokyo")
DEADLINES = ["0 6 * * *", "0 7 * * *", "0 8 * * *", "30 8 * * *"]
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=TZ)
STEP_METRICS = {DURATION_KEY: 600.0}  # recorded for every step attempt: the at-risk predictions read them
ATTEMPT = {**STEP_METRICS, OUTCOME_KEY: SUCCEEDED}


class QuietSink(AlertSink):
    def send(self, alert) -> None:  # delivery is not what is measured
        pass


def declared_tables(n: int) -> list[tuple[PredictionTable, dg.AssetsDefinition]]:
    """N daily prediction tables over 20 products and four deadlines, declared with the real API."""
    tables = []
    for i in range(n):
        declaration = PredictionTable(
            name=f"table_{i:04d}",
            product=f"product_{i % 20:02d}",
            owner="team:bench",
            slo=SLO(DEADLINES[i % len(DEADLINES)], timezone="Asia/Tokyo"),
            compute="small",
            expectations=Expectations(key_columns=("id",)),
        )

        @dg.asset(**declaration.asset_kwargs())
        def _table() -> None: ...

        tables.append((declaration, _table))
    return tables


def catalog(n: int) -> dg.Definitions:
    return dg.Definitions(assets=[asset for _, asset in declared_tables(n)])


# Connection and schema helpers the storages call on themselves: plumbing, not queries.
PLUMBING = {
    "index_connection",
    "run_connection",
    "connect",
    "conn_string_for_shard",
    "has_secondary_index",
    "has_asset_key_col",
    "has_asset_key_index_cols",
    "can_read_asset_status_cache",
}


class CallCounter:
    """Counts calls to the public methods of the instance's storages."""

    def __init__(self, instance: dg.DagsterInstance):
        self.calls: Counter = Counter()
        for label, storage in (("event_log", instance.event_log_storage), ("runs", instance.run_storage), ("schedules", instance.schedule_storage)):
            for name in dir(type(storage)):
                if name.startswith("_") or not callable(getattr(type(storage), name, None)):
                    continue
                original = getattr(storage, name)
                if not callable(original):
                    continue
                setattr(storage, name, self._wrap(f"{label}.{name}", original))

    def _wrap(self, label, original):
        def counted(*args, **kwargs):
            self.calls[label] += 1
            return original(*args, **kwargs)

        return counted

    def take(self) -> dict[str, int]:
        """Queries since the last take, by storage method (plumbing left out)."""
        taken = {k: v for k, v in self.calls.items() if k.split(".", 1)[1] not in PLUMBING}
        self.calls.clear()
        return taken


def seed(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> list[dg.AssetKey]:
    today, yesterday = NOW.strftime("%Y-%m-%d"), (NOW - timedelta(days=1)).strftime("%Y-%m-%d")
    missing = keys[::20]
    with _frozen(NOW - timedelta(days=1, hours=4)):
        for key in keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=yesterday))
            instance.report_runless_asset_event(dg.AssetObservation(key, partition=yesterday, metadata=ATTEMPT))
    with _frozen(NOW - timedelta(hours=4)):
        for key in keys:
            if key not in missing:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=today))
                instance.report_runless_asset_event(dg.AssetObservation(key, partition=today, metadata=ATTEMPT))
            instance._report_runless_asset_event(  # noqa: SLF001 - what the freshness daemon writes
                FreshnessStateChange(
                    key=key,
                    previous_state=FreshnessState.UNKNOWN,
                    new_state=FreshnessState.FAIL if key in missing else FreshnessState.PASS,
                    state_change_timestamp=time.time(),
                )
            )
    return missing


def _frozen(when: datetime):
    from freezegun import freeze_time

    return freeze_time(when)


def measure(n: int) -> dict:
    defs = catalog(n)
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys())
    sink = QuietSink()
    result: dict = {"tables": n}
    # SQLite on tmpfs: seeding writes one transaction per event; the tick itself only reads.
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as home, dg.instance_for_test(temp_dir=home) as instance:
        missing = seed(instance, keys)
        counter = CallCounter(instance)

        def tick(cursor, when):
            started = time.perf_counter()
            out = evaluate_slo_tick(instance, graph, cursor, sink, when)
            return out, time.perf_counter() - started, counter.take()

        cold, seconds, calls = tick(None, NOW)
        result["cold"] = {"seconds": round(seconds, 3), "storage_queries": sum(calls.values()), "by_method": calls, "raised": len(cold.raised)}
        steady, seconds, calls = tick(cold.cursor, NOW + timedelta(seconds=30))
        result["steady"] = {"seconds": round(seconds, 3), "storage_queries": sum(calls.values()), "by_method": calls, "raised": len(steady.raised)}
        with _frozen(NOW + timedelta(seconds=45)):
            for key in missing[:50]:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=NOW.strftime("%Y-%m-%d")))
        counter.take()
        updated, seconds, calls = tick(steady.cursor, NOW + timedelta(seconds=60))
        result["after_updates"] = {
            "seconds": round(seconds, 3),
            "storage_queries": sum(calls.values()),
            "by_method": calls,
            "resolved": len(updated.resolved),
        }
        result["cursor_kib"] = round(len(updated.cursor) / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median tick time is reported")
    args = parser.parse_args()
    results = []
    for n in args.tables:
        runs = [measure(n) for _ in range(args.repeat)]
        best = runs[0]
        for phase in ("cold", "steady", "after_updates"):
            best[phase]["seconds"] = round(statistics.median(r[phase]["seconds"] for r in runs), 3)
        results.append(best)
    print(json.dumps({"benchmark": "slo_sensor_tick", "python": platform.python_version(), "dagster": dg.__version__, "goal_seconds_at_1000": 2.0, "results": results}, indent=2))


if __name__ == "__main__":
    main()
