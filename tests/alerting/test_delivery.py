"""Delivery through the cursor-kept ledger and the real Slack sink, across outages and restarts."""

import time

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


def test_slow_slack_and_a_big_backlog_every_tick_stays_within_its_budget_and_each_alert_arrives_once(slack_api):
    # Scaled down from 3 s per message and a 20 s budget (40 alerts): same shape, seconds not minutes.
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, tick_budget_seconds=0.5)
    slack_api.latency = 0.1
    cursor, durations = None, []
    for now in range(0, 30 * 60, 30):
        started = time.monotonic()
        cursor, report = tick(cursor, sink, now=now, raise_=[alert(n) for n in range(40)] if now == 0 else [])
        durations.append(time.monotonic() - started)
        if report.backlog == 0:
            break
        assert report.deferred == report.backlog and "deferred (tick budget spent)" in tick_summary(report)
    assert report.backlog == 0 and len(durations) > 3
    assert max(durations) < sink.tick_budget_seconds + 0.1 + 0.4  # budget + one message + slack for the test box
    assert slack_api.texts() == [f"ERROR: failure {n} (table_{n}, 2026-03-01)" for n in range(40)]


def test_a_message_slack_refuses_goes_as_plain_text_or_to_dead_letters_and_never_blocks_the_rest(slack_api):
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url)
    slack_api.refuse_message("failure 1", "invalid_blocks")  # plain text is fine
    slack_api.refuse_message("failure 2", "msg_too_long", plain_text_too=True)  # nothing goes through
    cursor, report = tick(None, sink, now=0, raise_=[alert(1), alert(2, Severity.FATAL), alert(3)])
    assert report.failed is None and len(report.delivered) == 2 and report.backlog == 1
    plain = next(m for m in slack_api.messages if "failure 1" in m["text"])
    assert "blocks" not in plain and "table_1" in plain["text"]

    for now in (30, 60):
        cursor, report = tick(cursor, sink, now=now, raise_=[alert(4)] if now == 30 else [])
    assert report.backlog == 0 and report.dead_letters == 1
    summary = tick_summary(report)
    assert "dead letters 1" in summary and "refused for good: run_failure|table_2|2026-03-01|run-2" in summary
    (dead,) = AlertLedger.from_cursor(cursor).dead_letters  # a FATAL alert is kept, never silently dropped
    assert dead.severity == Severity.FATAL
    assert [t.split(" (")[0] for t in slack_api.texts()[1:]] == ["ERROR: failure 3", "ERROR: failure 4"]
    # Per refused message: blocks then plain text (2 requests), on each of 3 ticks; then never again.
    cursor, report = tick(cursor, sink, now=90)
    assert report.dead_lettered == [] and slack_api.attempts == (2 + 2 + 1) + (2 + 1) + 2
