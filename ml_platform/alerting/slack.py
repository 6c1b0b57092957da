"""dagster-slack's resource, pointed at any Slack Web API base URL, failing fast.

``dagster_slack.SlackResource.get_client()`` builds ``WebClient(token)`` with Slack's fixed
URL and slack_sdk's default retry handlers. Alert delivery needs a configurable base URL
(a proxy, a Slack-compatible server, a local test server) and no hidden retries: the alert
ledger retries across sensor ticks with backoff, so one tick stays short.
"""

import re

from dagster_slack import SlackResource
from pydantic import Field
from slack_sdk.web.client import WebClient

SLACK_API_URL = "https://slack.com/api/"

# Slack token shapes (bot, user, app, refresh, config); redacted even when not our own token.
_SLACK_TOKEN_PATTERN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")
REDACTED = "[redacted]"


class SlackApiResource(SlackResource):
    """``SlackResource`` with ``base_url`` and ``timeout_seconds``; its client never retries by itself."""

    base_url: str = Field(default=SLACK_API_URL, description="Slack Web API base URL, e.g. https://slack.com/api/")
    timeout_seconds: int = Field(default=10, description="Seconds to wait for Slack before the attempt fails.")

    def get_client(self) -> WebClient:
        return WebClient(token=self.token, base_url=self.base_url, timeout=self.timeout_seconds, retry_handlers=[])


def redact(text: str, *secrets: str | None) -> str:
    """``text`` without the given secrets nor anything shaped like a Slack token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _SLACK_TOKEN_PATTERN.sub(REDACTED, text)
