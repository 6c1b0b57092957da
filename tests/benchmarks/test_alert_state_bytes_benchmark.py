"""The alert-state benchmark measures what BENCHMARKS.md says, scaled down: the store-kept ledger
writes a small cursor and nothing to the key-value store on a steady tick, while the same ledger
in the old format (the whole ledger in the cursor) grows with the open incidents."""

import json
import sys

from benchmarks import alert_state_bytes

SENSORS = ("slo_alerts", "data_quality_alerts", "run_failure_alerts", "sensor_health_alerts")


def test_steady_ticks_write_small_cursors_and_nothing_to_the_store(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["alert_state_bytes.py", "--tables", "40", "--open", "20", "--backend", "sqlite"])
    alert_state_bytes.main()
    out = json.loads(capsys.readouterr().out)
    for state in ("open", "steady"):
        for sensor in SENSORS:
            after = out[state][sensor]["after"]
            assert after["kv_bytes"] == 0 and after["cursor_bytes"] < 1024 and after["total_bytes"] < 8 * 1024, (state, sensor, after)
    assert "20 fail" in out["open"]["slo_alerts"]["summary"]
    assert out["open"]["data_quality_alerts"]["summary"].startswith("20 open data-quality incident(s)")
    for sensor in ("slo_alerts", "data_quality_alerts"):  # 20 open incidents in the old cursor: tens of KiB per tick
        assert out["open"][sensor]["before"]["total_bytes"] > 5 * out["open"][sensor]["after"]["total_bytes"]
    assert out["fix_tick"]["data_quality_alerts"]["after_kv_bytes"] > 0  # resolutions rewrite their chunks once
