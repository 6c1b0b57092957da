"""The sensors' batched reads: what a first tick (no cursor) and later ticks (cursor) return; the
overlap read returns each record once with a bounded cursor."""

import json

import dagster as dg
from dagster._core.test_utils import freeze_time

from ml_platform import instance_reads
from ml_platform.instance_reads import MAX_SEEN, OVERLAP_SECONDS

DAY = 24 * 3600.0
START = 1_772_000_000.0  # 2026-02-25


def materialize(instance: dg.DagsterInstance, at: float, *names: str) -> None:
    with freeze_time(at):
        for name in names:
            instance.report_runless_asset_event(dg.AssetMaterialization(name, partition=str(int(at))))


def test_first_read_returns_only_the_window_oldest_first_across_pages(monkeypatch):
    monkeypatch.setattr(instance_reads, "WINDOW_PAGE", 3)  # the window spans several pages
    with dg.instance_for_test() as instance:
        for day in range(10):  # old history the first tick must not return
            materialize(instance, START + day * DAY, "a", "b")
        recent = [START + 10 * DAY + minute * 60 for minute in range(4)]
        for at in recent:
            materialize(instance, at, "a", "b")

        found, cursor = instance_reads.materializations_since(instance, {}, START + 10 * DAY - 1, START + 10 * DAY)

        assert [(m.asset, m.timestamp) for m in found] == [(name, at) for at in recent for name in ("a", "b")]
        newest = instance.fetch_materializations(dg.AssetKey("b"), limit=1).records[0].storage_id
        assert cursor["after"] == newest

        materialize(instance, START + 11 * DAY, "a")
        later, after = instance_reads.materializations_since(instance, cursor, 0.0, START + 11 * DAY)
        assert [(m.asset, m.timestamp) for m in later] == [("a", START + 11 * DAY)]
        assert after["after"] > cursor["after"]


def test_first_read_with_nothing_in_the_window_still_returns_a_cursor():
    with dg.instance_for_test() as instance:
        materialize(instance, START, "a")

        found, cursor = instance_reads.materializations_since(instance, {}, START + DAY, START + DAY)

        assert found == []
        assert cursor["after"] == instance.fetch_materializations(dg.AssetKey("a"), limit=1).records[0].storage_id


def test_first_read_of_an_empty_instance():
    with dg.instance_for_test() as instance:
        assert instance_reads.materializations_since(instance, {}, START, START) == ([], {})


def materialize_now(instance, names) -> None:
    for name in names:
        instance.report_runless_asset_event(dg.AssetMaterialization(name, partition="2026-03-10"))


def test_overlap_read_returns_each_materialization_once_with_a_small_cursor(instance):
    materialize_now(instance, [f"old_{i}" for i in range(30)])
    start = 1_800_000_000.0
    first, cursor = instance_reads.materializations_since(instance, {}, 0.0, start)
    assert len(first) == 30
    returned = [m.asset for m in first]
    burst = [f"burst_{i}" for i in range(MAX_SEEN + 20)]
    for tick in range(1, 10):  # a burst bigger than the deduplication bound, then quiet ticks
        if tick == 2:
            materialize_now(instance, burst)
        found, cursor = instance_reads.materializations_since(instance, cursor, 0.0, start + 30 * tick)
        returned += [m.asset for m in found]
        assert len(json.dumps(cursor)) < 600, cursor
    assert sorted(returned) == sorted([f"old_{i}" for i in range(30)] + burst)
    assert cursor["floor"] == cursor["after"] and cursor["seen"] == []  # quiet for longer than the overlap
    assert len(cursor["marks"]) <= OVERLAP_SECONDS // 30 + 1
