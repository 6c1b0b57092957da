"""The storage-id read with an overlap: each record returned once, the cursor bounded."""

import json

import dagster as dg

from ml_platform import instance_reads
from ml_platform.instance_reads import MAX_SEEN, OVERLAP_SECONDS


def materialize(instance, names) -> None:
    for name in names:
        instance.report_runless_asset_event(dg.AssetMaterialization(name, partition="2026-03-10"))


def test_overlap_read_returns_each_materialization_once_with_a_small_cursor(instance):
    materialize(instance, [f"old_{i}" for i in range(30)])
    start = 1_800_000_000.0
    first, cursor = instance_reads.materializations_since(instance, {}, 0.0, start)
    assert len(first) == 30
    returned = [m.asset for m in first]
    burst = [f"burst_{i}" for i in range(MAX_SEEN + 20)]
    for tick in range(1, 10):  # a burst bigger than the deduplication bound, then quiet ticks
        if tick == 2:
            materialize(instance, burst)
        found, cursor = instance_reads.materializations_since(instance, cursor, 0.0, start + 30 * tick)
        returned += [m.asset for m in found]
        assert len(json.dumps(cursor)) < 600, cursor
    assert sorted(returned) == sorted([f"old_{i}" for i in range(30)] + burst)
    assert cursor["floor"] == cursor["after"] and cursor["seen"] == []  # quiet for longer than the overlap
    assert len(cursor["marks"]) <= OVERLAP_SECONDS // 30 + 1
