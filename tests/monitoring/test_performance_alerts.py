"""Delayed-label alerts on the local DuckDB warehouse: a partition below the floor opens one
incident for the table, a healthy newer partition resolves it, labels that land before their
predictions wait for them."""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from ml_platform.alerting import AlertLedger, Kind
from ml_platform.declaration import SLO, Expectations, FeatureTable, PredictionTable
from ml_platform.monitoring.performance_alerts import METRIC_KEY, evaluate_labels
from ml_platform.monitoring.settings import Monitoring
from ml_platform.resources.window_reads import DuckDBWindowReader
from tests.monitoring.scenarios import Scenario

SCENARIO = Scenario()
DECLARED = {
    table.name: table
    for table in (
        PredictionTable(
            name="scores", product="p", owner="team:p", slo=SLO("0 8 * * *"), compute="small",
            expectations=Expectations(key_columns=("user_id",), score_column="score"),
            monitoring=Monitoring(label_table="labels", metric_floor=0.7, decay_window=3),
        ),
        FeatureTable(name="labels", product="p", owner="team:p", slo=SLO("0 8 * * *"), compute="small"),
    )
}


def write(connection, table: str, frame) -> None:
    connection.register("frame", frame)
    exists = connection.execute("select count(*) from information_schema.tables where table_name = ?", [table]).fetchone()[0]
    connection.execute(f"insert into ml_platform.{table} select * from frame" if exists else f"create table ml_platform.{table} as select * from frame")
    connection.unregister("frame")


def labels(day: int, scrambled: bool = False):
    frame = SCENARIO.labels(day)
    if scrambled:  # the outcomes no longer follow the scores: AUC about 0.5
        frame["label"] = np.random.default_rng(day).permutation(frame["label"].to_numpy())
    frame.insert(0, "date", SCENARIO.predictions(day)["date"].iloc[0])
    return frame


def test_floor_alert_opens_once_and_resolves_when_a_newer_partition_is_healthy(tmp_path):
    database = str(tmp_path / "warehouse.duckdb")
    reader = DuckDBWindowReader(database=database)
    declared = {dg.AssetKey(name): table for name, table in DECLARED.items()}
    ledger = AlertLedger()
    with duckdb.connect(database) as connection:
        connection.execute("create schema ml_platform")
        write(connection, "labels", labels(0))  # labels of day 0 land before its predictions
    events, raised, resolved = evaluate_labels(ledger, [("labels", "2026-01-01", 1.0)], declared, reader, "http://ui")
    assert (events, raised, resolved) == ([], 0, 0) and ledger.state["pending"] == [["labels", "2026-01-01", 1.0]]

    with duckdb.connect(database) as connection:
        for day in range(4):
            write(connection, "scores", SCENARIO.predictions(day))
    events, raised, resolved = evaluate_labels(ledger, [], declared, reader, "http://ui")  # the pending day is measured now
    assert [e.partition for e in events] == ["2026-01-01"] and events[0].metadata[METRIC_KEY].value > 0.7
    assert ledger.state["pending"] == [] and not ledger.open

    with duckdb.connect(database) as connection:
        write(connection, "labels", labels(1, scrambled=True))
    events, raised, resolved = evaluate_labels(ledger, [("labels", "2026-01-02", 2.0)], declared, reader, "http://ui")
    assert raised == 1 and events[0].metadata["healthy"].value is False
    [alert] = ledger.open.values()
    assert alert.kind == Kind.PREDICTION_PERFORMANCE and "below floor 0.700" in alert.title and alert.asset == "scores"
    evaluate_labels(ledger, [("labels", "2026-01-02", 3.0)], declared, reader, "http://ui")  # the same partition again
    assert len(ledger.outbox) == 1  # one message for the incident

    with duckdb.connect(database) as connection:
        write(connection, "labels", labels(2))
    events, raised, resolved = evaluate_labels(ledger, [("labels", "2026-01-03", 4.0)], declared, reader, "http://ui")
    assert (raised, resolved) == (0, 1) and not ledger.open
    assert ledger.outbox[-1].resolved and "healthy again" in ledger.outbox[-1].title


def test_several_label_partitions_landing_between_two_ticks_each_get_their_observation_and_one_alert(tmp_path):
    database = str(tmp_path / "warehouse.duckdb")
    reader = DuckDBWindowReader(database=database)
    declared = {dg.AssetKey(name): table for name, table in DECLARED.items()}
    with duckdb.connect(database) as connection:
        connection.execute("create schema ml_platform")
        for day in range(3):
            write(connection, "scores", SCENARIO.predictions(day))
            write(connection, "labels", labels(day, scrambled=day >= 1))  # the last two days decay
    landed = [("labels", SCENARIO.predictions(day)["date"].iloc[0].isoformat()[:10], 1.0 + day) for day in range(3)]

    ledger = AlertLedger()
    events, raised, resolved = evaluate_labels(ledger, landed, declared, reader, "http://ui")

    assert sorted(e.partition for e in events) == [partition for _, partition, _ in landed]
    assert [e.metadata["healthy"].value for e in sorted(events, key=lambda e: e.partition)] == [True, False, False]
    assert (raised, resolved) == (1, 0) and len(ledger.outbox) == 1  # one incident for the table, not one per partition
    assert landed[-1][1] in ledger.outbox[0].title  # about the newest labelled partition


def test_precision_at_k_of_a_top_k_table_joins_on_user_and_item_and_reads_each_users_list(tmp_path):
    """Ten users with three recommendations each; eight took their first one (the truth: precision@1
    0.800). Each user also clicked an item never recommended: joined on the user alone it would
    count as a hit, and the top 1 of the whole table would judge one user."""
    database = str(tmp_path / "warehouse.duckdb")
    day = SCENARIO.predictions(0)["date"].iloc[0]
    users = np.repeat(np.arange(10), 3)
    recommendations = pd.DataFrame(
        {"date": day, "user_id": users, "item_id": (users * 7 + np.tile([1, 2, 3], 10)) % 13, "score": np.tile([0.9, 0.5, 0.1], 10) * (1 - users / 100)}
    )
    first = recommendations.groupby("user_id").head(1)
    taken = pd.DataFrame({"date": day, "user_id": first["user_id"], "item_id": first["item_id"], "clicked": (first["user_id"] < 8).astype("int64")})
    seen = pd.DataFrame({"date": day, "user_id": users[::3], "item_id": 99, "clicked": 1})  # a click on an item never recommended
    declared = {
        dg.AssetKey("recs"): PredictionTable(
            name="recs", product="p", owner="team:p", slo=SLO("0 8 * * *"), compute="small",
            expectations=Expectations(key_columns=("user_id", "item_id"), score_column="score", top_k=3),
            monitoring=Monitoring(label_table="clicks", label_column="clicked", metric="precision_at_k", k=1),
        ),
        dg.AssetKey("clicks"): FeatureTable(name="clicks", product="p", owner="team:p", slo=SLO("0 8 * * *"), compute="small"),
    }
    with duckdb.connect(database) as connection:
        connection.execute("create schema ml_platform")
        write(connection, "recs", recommendations)
        write(connection, "clicks", pd.concat([taken, seen]))
    events, _, _ = evaluate_labels(AlertLedger(), [("clicks", "2026-01-01", 1.0)], declared, DuckDBWindowReader(database=database), "http://ui")
    assert events[0].metadata[METRIC_KEY].value == pytest.approx(0.8)
