"""The sensors' batched reads: what a first tick (no cursor) and a later tick (cursor) return."""

import dagster as dg
from dagster._core.test_utils import freeze_time

from ml_platform import instance_reads

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

        found, last = instance_reads.materializations_since(instance, None, START + 10 * DAY - 1)

        assert [(m.asset, m.timestamp) for m in found] == [(name, at) for at in recent for name in ("a", "b")]
        newest = instance.fetch_materializations(dg.AssetKey("b"), limit=1).records[0].storage_id
        assert last == newest

        materialize(instance, START + 11 * DAY, "a")
        later, after = instance_reads.materializations_since(instance, last, 0.0)
        assert [(m.asset, m.timestamp) for m in later] == [("a", START + 11 * DAY)]
        assert after > last


def test_first_read_with_nothing_in_the_window_still_returns_a_cursor():
    with dg.instance_for_test() as instance:
        materialize(instance, START, "a")

        found, last = instance_reads.materializations_since(instance, None, START + DAY)

        assert found == []
        assert last == instance.fetch_materializations(dg.AssetKey("a"), limit=1).records[0].storage_id


def test_first_read_of_an_empty_instance():
    with dg.instance_for_test() as instance:
        assert instance_reads.materializations_since(instance, None, START) == ([], None)
