"""Delivery through the cursor-kept ledger and the real Slack sink, across outages and restarts."""

from ml_platform.alerting import Alert, AlertLedger, Kind, Severity
from ml_platform.alerting.ledger import MAX_BACKLOG
from ml_platform.alerting.sink import AlertSink, tick_summary
from tests.fixtures.slack_api import TEST_TOKEN


def alert(n: int, severity: Severity = Severity.ERROR) -> Alert:
    return Alert(
        kind=Kind.RUN_FAILURE, severity=severity, title=f"failure {n}", asset=f"table_{n}", partition="2026-03-01", incident=f"run-{n}"
    )


def tick(cursor: str | None, sink: AlertSink, now: float, raise_: list[Alert] = ()) -> tuple[str, object]:
    """One sensor tick: ledger from the cursor, raise, deliver, back to a cursor."""
    ledger = AlertLedger.from_cursor(cursor)
    for a in raise_:
        ledger.raise_alert(a)
    report = ledger.deliver(sink, now)
    return ledger.to_cursor(), report


def test_outage_of_several_ticks_then_recovery_delivers_every_alert_once_in_order(slack_api):
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    slack_api.fail_with(500)

    cursor, report = tick(None, sink, now=0, raise_=[alert(1), alert(2)])
    assert report.backlog == 2 and "HTTP 500" in report.failed
    cursor, report = tick(cursor, sink, now=10, raise_=[alert(3)])  # still backing off: no request
    assert report.backlog == 3 and slack_api.attempts == 1
    assert "backlog 3" in tick_summary(report, raised=1)

    slack_api.fail_with(429, retry_after=300)
    cursor, report = tick(cursor, sink, now=31)
    assert "HTTP 429" in report.failed and slack_api.attempts == 2
    cursor, report = tick(cursor, sink, now=31 + 200)  # Retry-After (300 s) beats the 60 s backoff
    assert slack_api.attempts == 2

    slack_api.refuse()
    cursor, report = tick(cursor, sink, now=31 + 301, raise_=[alert(4)])
    assert "Slack unreachable" in report.failed and report.backlog == 4

    slack_api.recover()
    cursor, report = tick(cursor, sink, now=10_000, raise_=[alert(1), alert(5)])  # alert 1 again: same incident
    assert report.failed is None and report.backlog == 0
    cursor, report = tick(cursor, sink, now=10_030)
    assert report.delivered == []

    assert slack_api.texts() == [f"ERROR: failure {n} (table_{n}, 2026-03-01)" for n in (1, 2, 3, 4, 5)]


def test_sensor_restart_mid_outage_loses_nothing(slack_api):
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    slack_api.refuse()
    stored_cursor, _ = tick(None, sink, now=0, raise_=[alert(1), alert(2), alert(3)])

    # The process dies; a new one starts from the stored cursor with a fresh sink.
    slack_api.recover()
    restarted_sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    _, report = tick(stored_cursor, restarted_sink, now=60)

    assert report.delivered == [alert(n).key for n in (1, 2, 3)]
    assert [m["text"].split(" (")[0] for m in slack_api.messages] == ["ERROR: failure 1", "ERROR: failure 2", "ERROR: failure 3"]


def test_recovery_mid_backlog_keeps_the_rest_for_the_next_tick(slack_api):
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    slack_api.known_channels = {"#ml-error"}  # the severity channel works ...
    cursor, _ = tick(None, sink, now=0, raise_=[alert(1)])
    slack_api.fail_with(500)
    cursor, report = tick(cursor, sink, now=1, raise_=[alert(2), alert(3)])
    slack_api.recover()
    cursor, report = tick(cursor, sink, now=100)

    assert report.delivered == [alert(2).key, alert(3).key]
    assert len(slack_api.messages) == 3


def test_same_incident_alerts_once_and_resolves_once(slack_api):
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    ledger = AlertLedger()
    for now in (0, 30, 60):
        ledger.raise_alert(alert(1))
        ledger = AlertLedger.from_cursor(ledger.to_cursor())
        ledger.deliver(sink, now)
    ledger.resolve(alert(1).subject, "table_1 is healthy again")
    ledger.resolve(alert(1).subject, "table_1 is healthy again")
    ledger.deliver(sink, 90)

    assert slack_api.texts() == ["ERROR: failure 1 (table_1, 2026-03-01)", "RESOLVED: table_1 is healthy again (table_1, 2026-03-01)"]


def test_backlog_is_bounded_keeps_fatal_alerts_and_counts_what_was_dropped(slack_api):
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    slack_api.refuse()
    fatal = alert(0, Severity.FATAL)
    cursor, _ = tick(None, sink, now=0, raise_=[fatal, *[alert(n, Severity.WARN) for n in range(1, MAX_BACKLOG + 20)]])

    ledger = AlertLedger.from_cursor(cursor)
    assert len(ledger.outbox) == MAX_BACKLOG and ledger.dropped == 20
    assert ledger.outbox[0] == fatal
    slack_api.recover()
    _, report = tick(cursor, sink, now=10_000)
    assert "dropped 20" in tick_summary(report)
    assert len(slack_api.messages) == MAX_BACKLOG
