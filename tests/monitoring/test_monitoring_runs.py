"""The three scenarios and a stable product through real runs on a real instance: the monitoring
checks run after each day's partition, the delayed-label sensor records AUC when labels land
three days late, and alerts reach the Slack test server. Seven days of runs (the 30-day numbers
come from the pure replay in test_scenarios.py)."""

from pathlib import Path

import dagster as dg

from ml_platform.alerting import AlertSink
from ml_platform.assembly import assemble_definitions
from ml_platform.checks.alerts import SENSOR_NAME as QUALITY_SENSOR
from ml_platform.cli import main
from ml_platform.monitoring.health import REPORT_ASSET
from ml_platform.monitoring.performance_alerts import METRIC_KEY, SENSOR_NAME
from ml_platform.report_asset import MAX_EMBEDDED
from tests.fixtures.product_runs import check_evaluations, run_products
from tests.fixtures.slack_api import TEST_TOKEN
from tests.monitoring.run_replay import UI_URL, partition, tick
from tests.monitoring.scenario_catalog import ONSET, SCENARIOS, scenario_catalog

DAYS = 7
LABEL_DELAY = 3


def test_scenarios_are_detected_through_runs_and_the_stable_product_raises_nothing(warehouse, slack_api, capsys):
    with dg.DagsterInstance.get() as instance:  # $DAGSTER_HOME of the test: the CLI reads it too
        run_scenarios(warehouse, instance, slack_api, capsys)


def run_scenarios(warehouse, instance, slack_api, capsys):
    defs = assemble_definitions(
        scenario_catalog(), "local", resources={"alert_sink": AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url=UI_URL)}
    )
    tables = ["fallback_users", *(f"{name}_scores" for name in SCENARIOS)]
    first_alert: dict[tuple[str, str], int] = {}
    cursors: dict[str, str | None] = {QUALITY_SENSOR: None, SENSOR_NAME: None}
    drift_by_day = {}
    for day in range(DAYS):
        result = run_products(defs, instance, partition(day), *tables)
        assert result.success
        evaluations = check_evaluations(result)
        drift_by_day[day] = evaluations[("feature_break_scores", "prediction_drift")]
        if day >= LABEL_DELAY:  # labels of day - 3 land today
            assert run_products(defs, instance, partition(day - LABEL_DELAY), *(f"{n}_labels" for n in SCENARIOS)).success
        seen = len(slack_api.messages)
        for name in cursors:
            cursors[name] = tick(defs, name, instance, cursors[name])
        for message in slack_api.messages[seen:]:
            text = message["text"]
            for scenario in SCENARIOS:
                for signal in ("prediction_drift", "prediction_coverage", "auc"):
                    if f"{scenario}_scores" in text and signal in text and not text.startswith("RESOLVED"):
                        first_alert.setdefault((scenario, signal), day)

    delays = {key: day - ONSET for key, day in sorted(first_alert.items())}
    assert not [key for key in first_alert if key[0] == "stable"], f"false alerts on the stable product: {first_alert}"
    assert delays[("feature_break", "prediction_drift")] == 0
    assert delays[("fallback", "prediction_coverage")] <= 1
    assert delays[("late_labels", "auc")] <= LABEL_DELAY + 1  # labels of the onset day land 3 days later
    assert ("late_labels", "prediction_drift") not in first_alert and ("late_labels", "prediction_coverage") not in first_alert

    broken = drift_by_day[ONSET]
    assert not broken.passed and broken.severity == dg.AssetCheckSeverity.ERROR
    assert broken.metadata["pinned_window"].value == f"{partition(0)} .. {partition(ONSET - 1)} ({ONSET} partitions)"
    assert broken.metadata["top_shifted_bins"].value and "data:image/png;base64," in broken.metadata["score_distribution"].value
    assert drift_by_day[ONSET - 1].passed

    # performance is an observation per labelled partition; the prediction asset ran once per day
    key = dg.AssetKey("late_labels_scores")
    observed = {
        r.event_log_entry.dagster_event.partition: r.asset_observation.metadata[METRIC_KEY].value
        for r in instance.fetch_observations(key, limit=1000).records
        if METRIC_KEY in r.asset_observation.metadata  # the step's attempt records and the check's summaries are observations too
    }
    assert sorted(observed) == [partition(d) for d in range(DAYS - LABEL_DELAY)]
    assert observed[partition(DAYS - LABEL_DELAY - 1)] < observed[partition(0)] - 0.08  # the declared max_decay
    assert len(instance.fetch_materializations(key, limit=100).records) == DAYS
    alert = next(m for m in slack_api.messages if "late_labels_scores" in m["text"] and "auc" in m["text"])
    assert f"{UI_URL}/assets/late_labels_scores?view=checks" in str(alert["blocks"])
    drift_alert = next(m for m in slack_api.messages if m["text"].startswith(f"ERROR: feature_break_scores {partition(ONSET)}"))
    assert "consumers still read it" in drift_alert["text"]  # error_blocks_consumers is not declared

    # the prediction_health report: as an asset of the platform group, and as the CLI command
    report = dg.materialize([defs.resolve_assets_def(REPORT_ASSET)], instance=instance, resources=defs.resources)
    metadata = report.asset_materializations_for_node(REPORT_ASSET)[0].metadata
    table = metadata["health"].value
    assert metadata["tables"].value == len(SCENARIOS)
    assert f"| feature_break_scores | {partition(DAYS - 1)} | error |" in table
    assert f"| stable_scores | {partition(DAYS - 1)} | pass |" in table
    assert len(list(Path(metadata["plot files"].value).glob("*.png"))) == len(SCENARIOS)
    assert metadata["plots"].value.count("data:image/png;base64,") == min(len(SCENARIOS), MAX_EMBEDDED)
    capsys.readouterr()
    out_dir = warehouse / "health_plots"
    assert main(["--module", "tests.monitoring.scenario_definitions", "prediction-health", "--days", "30", "--out-dir", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(f"\n{printed}plots in {out_dir}; detection delays (days from onset): {delays}")
    late = next(line for line in printed.splitlines() if line.startswith("late_labels_scores"))
    assert "auc" in late and f"{observed[partition(DAYS - LABEL_DELAY - 1)]:.3f}" in late
    assert sorted(p.name for p in out_dir.glob("*.png")) == sorted(f"{name}_scores.png" for name in SCENARIOS)
