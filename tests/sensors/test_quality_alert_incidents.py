"""Incident bookkeeping of the data-quality alert sensor (no Dagster run needed)."""

import dagster as dg

from ml_platform.alerting import AlertLedger, Severity
from ml_platform.assets.related_content import RELATED_ARTICLES
from ml_platform.sensors.quality_alerts import Evaluation, evaluate_quality_alerts

KEY = dg.AssetKey("related_articles")
TABLES = {KEY: RELATED_ARTICLES}


def evaluation(check: str, partition: str, passed: bool, severity=Severity.ERROR) -> Evaluation:
    return Evaluation(KEY, check, partition, passed, severity, f"{check} on {partition}", {}, "run-1")


def sent(ledger: AlertLedger) -> list[str]:
    titles = [a.title for a in ledger.outbox]
    ledger.outbox.clear()
    return titles


def test_failing_checks_of_one_partition_make_one_alert():
    ledger = AlertLedger()
    evaluate_quality_alerts(
        ledger,
        [evaluation("row_count_change", "2026-03-10", False), evaluation("duplicate_keys", "2026-03-10", False)],
        TABLES,
        "http://ui",
    )
    (alert,) = ledger.outbox
    assert alert.incident == "duplicate_keys:error,row_count_change:error"
    assert alert.link == "http://ui/assets/related_articles?view=checks"
    assert alert.channel == "#content-similarity-alerts" and alert.owner == "team:content"


def test_warn_becoming_error_alerts_again():
    ledger = AlertLedger()
    evaluate_quality_alerts(ledger, [evaluation("row_count_change", "2026-03-10", False, Severity.WARN)], TABLES, "u")
    evaluate_quality_alerts(ledger, [evaluation("row_count_change", "2026-03-10", False, Severity.WARN)], TABLES, "u")
    assert len(sent(ledger)) == 1
    evaluate_quality_alerts(ledger, [evaluation("row_count_change", "2026-03-10", False)], TABLES, "u")
    assert [a.severity for a in ledger.outbox] == [Severity.ERROR]


def test_each_failing_partition_stays_open_until_the_check_passes_again():
    ledger = AlertLedger()
    evaluate_quality_alerts(ledger, [evaluation("row_count_decline", "2026-03-10", False)], TABLES, "u")
    evaluate_quality_alerts(ledger, [evaluation("row_count_decline", "2026-03-11", False)], TABLES, "u")
    assert len(sent(ledger)) == 2 and len(ledger.open) == 2
    evaluate_quality_alerts(ledger, [evaluation("row_count_decline", "2026-03-12", True)], TABLES, "u")
    resolutions = sent(ledger)
    assert len(resolutions) == 2 and all("pass again (latest: 2026-03-12)" in t for t in resolutions)
    assert ledger.open == {}
