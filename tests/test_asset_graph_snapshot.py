"""The asset graph as reviewers should see it: a change to keys, deps, partitions, SLOs,
compute, owners, checks or schedules shows up as a diff of snapshots/asset_graph.json.

The snapshot pins the products it holds (the examples and the platform's own assets): a product
added later is compared once the snapshot is regenerated to include it, so adding a product is one
new module and no other edit (tests/test_product_discovery.py).

Regenerate after an intended change: UPDATE_SNAPSHOTS=1 pytest tests/test_asset_graph_snapshot.py
"""

import json
import os
from pathlib import Path

from ml_platform.declaration import PRODUCT_TAG

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def describe(defs, groups: set[str] | None = None) -> dict:
    """The graph's reviewable parts; with ``groups``, only the assets and schedules of those groups."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if groups is not None and node.group_name not in groups:
            continue
        policy = node.freshness_policy
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": str(node.partitions_def) if node.partitions_def else None,
            "freshness": f"{policy.deadline_cron} {policy.timezone} window={policy.lower_bound_delta}" if policy else None,
            "op_tags": {k: v for k, v in sorted(node.assets_def.op.tags.items())},
            "pools": sorted(node.pools or ()),
            "owners": list(node.owners),
            "tags": {k: v for k, v in sorted(node.tags.items())},
            "checks": sorted(c.name for c in node.check_keys),
            **({"automation": node.automation_condition.get_label()} if node.automation_condition else {}),
        }
    schedules = {
        s.name: f"{s.cron_schedule} {s.execution_timezone}"
        for s in sorted(defs.schedules, key=lambda s: s.name)
        if groups is None or s.tags.get(PRODUCT_TAG) in groups
    }
    sensors = sorted(s.name for s in defs.sensors or [])
    return {"assets": assets, "schedules": schedules, "sensors": sensors}


def snapshot_groups() -> set[str]:
    """The groups (products, and the platform's own group) the snapshot pins."""
    return {asset["group"] for asset in json.loads(SNAPSHOT.read_text())["assets"].values()}


def render(description: dict) -> str:
    return json.dumps(description, indent=2, sort_keys=False, default=str) + "\n"


def test_asset_graph_matches_snapshot(defs):
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(render(describe(defs)))
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: generate it with UPDATE_SNAPSHOTS=1 and review it"
    current = render(describe(defs, snapshot_groups()))
    assert current == SNAPSHOT.read_text(), "asset graph changed: review the diff, then UPDATE_SNAPSHOTS=1"
