"""The data-quality benchmark measures what BENCHMARKS.md says: every check evaluated, a fixed number
of storage calls per alert-sensor tick whatever the number of tables (the evaluations since the
cursor, and the ledger's key-value read), raises and resolutions as injected."""

import json
import sys

from benchmarks import quality_checks


def run_benchmark(monkeypatch, capsys, tables: int) -> dict:
    monkeypatch.setattr(sys, "argv", ["quality_checks.py", "--tables", str(tables), "--days", "4"])
    quality_checks.main()
    return json.loads(capsys.readouterr().out)


def test_alert_sensor_ticks_read_every_check_in_one_storage_call_plus_the_ledger_read(monkeypatch, capsys):
    out = run_benchmark(monkeypatch, capsys, tables=50)
    sensor = out["alert_sensor"]
    assert sensor["check_keys"] == sensor["check_keys_evaluated"] == 50 * out["checks_per_table"]
    # As injected: every 10th table drops rows, every 25th has scores out of range.
    failing = len([i for i in range(50) if i % quality_checks.ROW_DROP_EVERY == 0 or i % quality_checks.OUT_OF_RANGE_EVERY == 0])
    assert sensor["tables_failing"] == failing
    # One event-log read of the evaluations, one key-value read of the ledger (open incidents, backlog).
    assert {tick: sensor[tick]["storage_calls"] for tick in ("cold", "steady", "after_fixes")} == {"cold": 2, "steady": 2, "after_fixes": 2}
    assert sensor["cold"]["skip_reason"] == f"{failing} open data-quality incident(s); alerts: raised {failing}, resolved 0, delivered {failing}, backlog 0"
    assert sensor["steady"]["skip_reason"] == f"{failing} open data-quality incident(s); alerts: raised 0, resolved 0, delivered 0, backlog 0"
    assert sensor["after_fixes"]["skip_reason"] == f"0 open data-quality incident(s); alerts: raised 0, resolved {failing}, delivered {failing}, backlog 0"
