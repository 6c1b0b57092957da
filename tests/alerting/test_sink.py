import json
import logging
import sys

import pytest

from ml_platform.alerting import Alert, DeliveryFailed, Kind, Severity
from ml_platform.alerting.alert import DeliveryReport
from ml_platform.alerting.message import FIELDS_PER_SECTION, HEADER_LIMIT, SECTION_LIMIT
from ml_platform.alerting.sink import AlertSink, tick_summary
from tests.fixtures.slack_api import TEST_TOKEN

TRACEBACK = "\n".join(
    [
        "Traceback (most recent call last):",
        *[f'  File "/app/ml_platform/step_{i}.py", line {i}, in frame_{i}' for i in range(200)],
        "ValueError: score column has 12 NaN values",
    ]
)


def failure_alert(**changes) -> Alert:
    fields = dict(
        kind=Kind.RUN_FAILURE,
        severity=Severity.ERROR,
        title="Run failed in step article_recommendations",
        asset="article_recommendations",
        partition="2026-03-01",
        incident="run-1234",
        owner="team:recs",
        since=1772330400.0,
        run_id="0f6c6a9e-1234-4f2b-9a0e-5d1c2b3a4f5e",
        details=(("Failed step", "article_recommendations"),),
        text=TRACEBACK,
    )
    return Alert(**{**fields, **changes})


def slack_sink(slack_api, **changes) -> AlertSink:
    return AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_api.url, ui_url="http://dagster.example:3000", **changes)


def test_failure_alert_names_asset_partition_owner_run_and_carries_traceback_tail(slack_api):
    alert = failure_alert()

    slack_sink(slack_api).send(alert)

    (message,) = slack_api.messages
    assert message["channel"] == "#ml-error"
    assert message["text"].startswith("ERROR: Run failed in step article_recommendations")
    body = json.dumps(message["blocks"])
    for fact in ("article_recommendations", "2026-03-01", "team:recs", alert.run_id, "Failed step"):
        assert fact in body
    assert f"http://dagster.example:3000/runs/{alert.run_id}" in body
    code = next(b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b)
    assert code.startswith("```") and code.endswith("```")
    assert "ValueError: score column has 12 NaN values" in code  # the root cause is the last line
    assert "frame_199" in code and "frame_0\n" not in code  # the tail is kept, the head dropped
    assert len(code) <= SECTION_LIMIT


@pytest.mark.parametrize(
    "severity, channel", [(Severity.FATAL, "#ml-fatal"), (Severity.ERROR, "#ml-error"), (Severity.WARN, "#ml-warn")]
)
def test_each_severity_goes_to_its_own_channel(slack_api, severity, channel):
    slack_sink(slack_api).send(failure_alert(severity=severity))

    assert [m["channel"] for m in slack_api.messages] == [channel]


def test_severity_channels_are_configurable(slack_api):
    slack_sink(slack_api, fatal_channel="#data-slo").send(failure_alert(severity=Severity.FATAL))

    assert slack_api.messages[0]["channel"] == "#data-slo"


def test_per_table_channel_overrides_the_severity_channel(slack_api):
    slack_sink(slack_api).send(failure_alert(channel="#team-recs-alerts"))

    assert slack_api.messages[0]["channel"] == "#team-recs-alerts"


def test_missing_per_table_channel_falls_back_to_the_severity_channel_with_a_note(slack_api):
    slack_api.known_channels = {"#ml-error"}

    slack_sink(slack_api).send(failure_alert(channel="#no-such-channel"))

    (message,) = slack_api.messages
    assert message["channel"] == "#ml-error"
    assert "could not post to #no-such-channel: channel_not_found" in json.dumps(message["blocks"])


def test_asset_alert_without_run_links_to_the_asset_partition_page(slack_api):
    alert = failure_alert(kind=Kind.DATA_QUALITY, run_id=None, asset="recs/article_recommendations")

    slack_sink(slack_api).send(alert)

    link = "http://dagster.example:3000/assets/recs/article_recommendations?view=partitions&partition=2026-03-01"
    assert link in json.dumps(slack_api.messages[0]["blocks"])


def test_resolution_is_marked_resolved_and_drops_the_traceback(slack_api):
    slack_sink(slack_api).send(failure_alert().resolution("Run of article_recommendations succeeded again"))

    (message,) = slack_api.messages
    assert message["text"].startswith("RESOLVED: Run of article_recommendations succeeded again")
    assert "```" not in json.dumps(message["blocks"])


def test_blocks_stay_within_slack_limits_for_long_content(slack_api):
    many_details = tuple((f"Check {i}", "x" * 5000) for i in range(25))
    slack_sink(slack_api).send(failure_alert(title="t" * 500, details=many_details))

    blocks = slack_api.messages[0]["blocks"]
    assert len(blocks[0]["text"]["text"]) <= HEADER_LIMIT
    sections = [b for b in blocks if "fields" in b]
    assert all(len(s["fields"]) <= FIELDS_PER_SECTION for s in sections)
    assert all(len(f["text"]) <= 2000 for s in sections for f in s["fields"])
    assert sum(len(s["fields"]) for s in sections) == 5 + 25  # every fact kept, split over sections


def test_slack_markup_in_content_is_escaped(slack_api):
    slack_sink(slack_api).send(failure_alert(title="a <!channel> & b", text="x < y"))

    message = slack_api.messages[0]
    header, *rest = message["blocks"]
    assert header["text"]["type"] == "plain_text"  # Slack shows plain text literally
    assert "<!channel>" not in message["text"] + json.dumps(rest)
    assert message["text"].startswith("ERROR: a &lt;!channel&gt; &amp; b")


def test_token_never_appears_in_messages_logs_or_console(slack_api, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    leaky = failure_alert(
        title=f"Auth failed with {TEST_TOKEN}",
        text=f"{TRACEBACK}\nRuntimeError: bad token {TEST_TOKEN} and xoxp-999-other-token",
        details=(("Env", f"ML_PLATFORM_SLACK_TOKEN={TEST_TOKEN}"),),
    )
    sink = slack_sink(slack_api)

    sink.send(leaky)
    slack_api.fail_with(500)
    with pytest.raises(DeliveryFailed) as failed:
        sink.send(leaky)
    slack_api.refuse()
    with pytest.raises(DeliveryFailed) as refused:
        sink.send(leaky)
    AlertSink().send(leaky)  # console mode logs the alert too

    assert len(slack_api.raw_bodies) == 2
    assert all(TEST_TOKEN.encode() not in body for body in slack_api.raw_bodies)
    assert all(b"xoxp-999-other-token" not in body for body in slack_api.raw_bodies)
    assert "[redacted]" in slack_api.messages[0]["text"]
    captured = capsys.readouterr()
    seen = caplog.text + captured.out + captured.err + str(failed.value) + str(refused.value)
    assert "[redacted]" in caplog.text
    assert TEST_TOKEN not in seen


def test_without_a_token_each_alert_is_printed_once_through_the_dagster_log(caplog, capsys):
    caplog.set_level(logging.INFO)
    console = logging.StreamHandler(sys.stderr)  # as `dagster dev` configures the dagster logger
    logging.getLogger("dagster").addHandler(console)
    try:
        AlertSink().send(failure_alert())
    finally:
        logging.getLogger("dagster").removeHandler(console)

    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert out.count("[alert ERROR -> #ml-error] Run failed in step article_recommendations") == 1
    assert "Partition: 2026-03-01" in out and "Owner: team:recs" in out
    assert "Link: http://localhost:3000/runs/0f6c6a9e-1234-4f2b-9a0e-5d1c2b3a4f5e" in out
    assert "ValueError: score column has 12 NaN values" in out
    assert any(r.name.startswith("dagster") and "Run failed in step" in r.getMessage() for r in caplog.records)


def test_server_error_raises_delivery_failed_with_status(slack_api):
    slack_api.fail_with(503)

    with pytest.raises(DeliveryFailed, match="HTTP 503") as failed:
        slack_sink(slack_api).send(failure_alert())

    assert failed.value.retry_after is None
    assert slack_api.messages == [] and slack_api.attempts == 1  # no hidden retries inside a tick


def test_rate_limit_raises_delivery_failed_with_retry_after(slack_api):
    slack_api.fail_with(429, retry_after=120)

    with pytest.raises(DeliveryFailed, match="HTTP 429, ratelimited") as failed:
        slack_sink(slack_api).send(failure_alert())

    assert failed.value.retry_after == 120


def test_refused_connection_raises_delivery_failed(slack_api):
    slack_api.refuse()

    with pytest.raises(DeliveryFailed, match="Slack unreachable"):
        slack_sink(slack_api).send(failure_alert())

    slack_api.recover()
    slack_sink(slack_api).send(failure_alert())
    assert len(slack_api.messages) == 1


def test_wrong_token_is_a_delivery_failure_that_keeps_the_alert(slack_api):
    sink = AlertSink(slack_token="xoxb-wrong", slack_api_url=slack_api.url)

    with pytest.raises(DeliveryFailed, match="invalid_auth"):
        sink.send(failure_alert())


def test_tick_summary_shows_the_backlog_and_why_delivery_fails():
    report = DeliveryReport(delivered=["a"], failed="Slack unreachable", backlog=3, dropped=2)

    line = tick_summary(report, raised=4)

    assert line == (
        "alerts: raised 4, resolved 0, delivered 1, backlog 3, dropped 2 (backlog full); "
        "delivery failing: Slack unreachable"
    )
