"""The alert sink resource: Slack when a token is configured, the console and Dagster log otherwise.

Every sender (SLO, data-quality, run-failure and sensor-health sensors) hands its ``Alert``s to
an ``AlertLedger``, which calls ``AlertSink.send`` in order. ``send`` either delivers or raises
``DeliveryFailed`` (with Slack's Retry-After when given); it never retries by itself, so a
sensor tick stays short and the ledger decides when to try again.
"""

import http.client
import json

import dagster as dg
from pydantic import Field
from slack_sdk.errors import SlackApiError

from ml_platform.alerting import links
from ml_platform.alerting.alert import Alert, DeliveryReport, Severity
from ml_platform.alerting.ledger import DeliveryFailed
from ml_platform.alerting.message import RenderedAlert, render
from ml_platform.alerting.slack import SLACK_API_URL, SlackApiResource, redact

DEFAULT_UI_URL = "http://localhost:3000"

# Errors that concern one channel, not Slack as a whole: post to the severity's channel instead.
_CHANNEL_ERRORS = {"channel_not_found", "not_in_channel", "is_archived"}
# Errors about this message's content: retried once as trimmed plain text.
_CONTENT_ERRORS = {"msg_too_long", "invalid_blocks", "invalid_blocks_format", "too_many_blocks"}
# Errors that no retry of this message can fix (Slack itself is fine): the ledger skips it.
_PERMANENT_ERRORS = _CHANNEL_ERRORS | _CONTENT_ERRORS | {"no_text", "invalid_arguments", "restricted_action"}
PLAIN_TEXT_LIMIT = 3000


class AlertSink(dg.ConfigurableResource):
    """Routes each alert to its asset's own channel or its severity's channel, and delivers it."""

    slack_token: str | None = Field(default=None, description="Slack bot token; unset: alerts go to the console and Dagster log.")
    slack_api_url: str = Field(default=SLACK_API_URL, description="Slack Web API base URL.")
    ui_url: str = Field(default=DEFAULT_UI_URL, description="Dagster UI base URL used in alert links.")
    fatal_channel: str = "#ml-fatal"
    error_channel: str = "#ml-error"
    warn_channel: str = "#ml-warn"
    slack_timeout_seconds: int = 10
    tick_budget_seconds: float = Field(
        default=20.0,
        description="A sensor tick stops sending after this long; the rest waits for the next tick. "
        "A tick then lasts at most this plus one Slack timeout, below Dagster's 60 s sensor limit.",
    )

    def channel_for(self, alert: Alert) -> str:
        return alert.channel or self.severity_channel(alert.severity)

    def severity_channel(self, severity: Severity) -> str:
        return {Severity.FATAL: self.fatal_channel, Severity.ERROR: self.error_channel, Severity.WARN: self.warn_channel}[
            severity
        ]

    # Deep links into the Dagster UI, for senders that fill ``Alert.link``.

    def run_url(self, run_id: str) -> str:
        return links.run_url(self.ui_url, run_id)

    def asset_url(self, asset_key: dg.AssetKey | str, partition: str | None = None) -> str:
        return links.asset_url(self.ui_url, asset_key, partition)

    def sensor_url(self, sensor_name: str, location_name: str) -> str:
        return links.sensor_url(self.ui_url, sensor_name, location_name)

    def link_for(self, alert: Alert) -> str | None:
        """The alert's own link, else its run's page, else its asset's page."""
        if alert.link:
            return alert.link
        if alert.run_id:
            return self.run_url(alert.run_id)
        if alert.asset:
            return self.asset_url(alert.asset, alert.partition)
        return None

    def render(self, alert: Alert, channel: str | None = None) -> RenderedAlert:
        rendered = render(alert, channel or self.channel_for(alert), self.link_for(alert))
        # Everything that leaves the process goes through one redaction pass.
        return RenderedAlert(**json.loads(redact(json.dumps(rendered.__dict__), self.slack_token)))

    def send(self, alert: Alert) -> None:
        rendered = self.render(alert)
        if not self.slack_token:
            self._print(rendered)
            return
        try:
            self._post(rendered)
        except SlackDeliveryFailed as failure:
            self._post(self._fallback(alert, rendered, failure))
        dg.get_dagster_logger().info(f"alert sent to {rendered.channel}: {rendered.text}")

    def _fallback(self, alert: Alert, rendered: RenderedAlert, failure: "SlackDeliveryFailed") -> RenderedAlert:
        """The one retry a refused message gets, or ``failure`` raised again."""
        if alert.channel and failure.slack_error in _CHANNEL_ERRORS:
            # A wrong per-asset channel must not block the whole backlog: use the severity's channel.
            note = f"(could not post to {alert.channel}: {failure.slack_error})"
            blocks = [*rendered.blocks, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]
            return RenderedAlert(channel=self.severity_channel(alert.severity), text=rendered.text, blocks=blocks, console=rendered.console)
        if failure.slack_error in _CONTENT_ERRORS:
            # Too long or malformed blocks: the same alert as trimmed plain text.
            text = rendered.console if len(rendered.console) <= PLAIN_TEXT_LIMIT else rendered.console[: PLAIN_TEXT_LIMIT - 1] + "…"
            return RenderedAlert(channel=rendered.channel, text=text, blocks=[], console=rendered.console)
        raise failure

    def _post(self, rendered: RenderedAlert) -> None:
        client = SlackApiResource(
            token=self.slack_token or "", base_url=self.slack_api_url, timeout_seconds=self.slack_timeout_seconds
        ).get_client()
        try:
            client.chat_postMessage(channel=rendered.channel, text=rendered.text, blocks=rendered.blocks or None, unfurl_links=False)
        except SlackApiError as error:
            raise _api_failure(error, rendered.channel) from None
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out (URLError is an OSError)
            reason = getattr(error, "reason", error)
            raise DeliveryFailed(redact(f"Slack unreachable at {self.slack_api_url}: {reason}", self.slack_token)) from None

    def _print(self, rendered: RenderedAlert) -> None:
        # Once: the Dagster logger is what `dagster dev` and the code server print to the console
        # (a print() beside it showed every alert twice).
        dg.get_dagster_logger().warning(rendered.console)


class SlackDeliveryFailed(DeliveryFailed):
    """Slack answered but refused; ``slack_error`` is its error code (e.g. ``channel_not_found``)."""

    def __init__(self, reason: str, slack_error: str, retry_after: float | None = None):
        super().__init__(reason, retry_after, permanent=slack_error in _PERMANENT_ERRORS)
        self.slack_error = slack_error


def _api_failure(error: SlackApiError, channel: str) -> SlackDeliveryFailed:
    """A ``DeliveryFailed`` naming the HTTP status and Slack's error code, never the request."""
    response = error.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    slack_error = str(data.get("error", "unknown_error"))[:200]
    retry_after = None
    if status == 429:
        header = {k.lower(): v for k, v in (response.headers or {}).items()}.get("retry-after")
        retry_after = float(header[0] if isinstance(header, list) else header) if header else None
    reason = f"Slack chat.postMessage to {channel} failed: HTTP {status}, {slack_error}"
    return SlackDeliveryFailed(reason, slack_error, retry_after)


def alert_sink_from_env() -> AlertSink:
    """The sink as configured by ``ML_PLATFORM_*`` variables; called when definitions load.

    The token stays an ``EnvVar`` (resolved when a sensor runs, shown by name in the UI); with
    no token set, alerts go to the console and Dagster log.
    """
    token = dg.EnvVar("ML_PLATFORM_SLACK_TOKEN")
    return AlertSink(
        slack_token=token if token.get_value() else None,
        slack_api_url=dg.EnvVar("ML_PLATFORM_SLACK_API_URL").get_value(SLACK_API_URL),
        ui_url=dg.EnvVar("ML_PLATFORM_UI_URL").get_value(DEFAULT_UI_URL),
        fatal_channel=dg.EnvVar("ML_PLATFORM_ALERT_CHANNEL_FATAL").get_value("#ml-fatal"),
        error_channel=dg.EnvVar("ML_PLATFORM_ALERT_CHANNEL_ERROR").get_value("#ml-error"),
        warn_channel=dg.EnvVar("ML_PLATFORM_ALERT_CHANNEL_WARN").get_value("#ml-warn"),
    )


def tick_summary(report: DeliveryReport, raised: int = 0, resolved: int = 0) -> str:
    """One line for a sensor's tick output: what was raised and sent, and what still waits."""
    parts = [f"raised {raised}", f"resolved {resolved}", f"delivered {len(report.delivered)}", f"backlog {report.backlog}"]
    if report.deferred:
        parts.append(f"{report.deferred} deferred (tick budget spent)")
    if report.dropped:
        parts.append(f"dropped {report.dropped} (backlog full)")
    if report.dead_letters:
        parts.append(f"dead letters {report.dead_letters}")
    line = "alerts: " + ", ".join(parts)
    if report.dead_lettered:
        line += "; refused for good: " + "; ".join(report.dead_lettered)
    return line + (f"; delivery failing: {report.failed}" if report.failed else "")
