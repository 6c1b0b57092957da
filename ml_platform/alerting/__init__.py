"""One alert sink for every platform signal: SLO breaches, run failures, data checks, broken sensors."""

from ml_platform.alerting.alert import Alert, DeliveryReport, Kind, Severity
from ml_platform.alerting.ledger import AlertLedger, DeliveryFailed
from ml_platform.alerting.sink import AlertSink

__all__ = ["Alert", "AlertLedger", "AlertSink", "DeliveryFailed", "DeliveryReport", "Kind", "Severity"]
