"""How an alert reads: Slack blocks that fit a phone screen, and the same facts as plain text.

Slack limits honoured here: header text 150 characters, a section's text 3000, 10 fields per
section of 2000 each. The traceback keeps its last lines (the root cause is at the bottom).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml_platform.alerting.alert import Alert, Severity

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
MAX_FIELDS = 40  # Slack allows 50 blocks per message; facts take at most 4 of them
TEXT_LIMIT = 3000  # notification fallback; Slack truncates long messages anyway

_ICONS = {Severity.FATAL: ":rotating_light:", Severity.ERROR: ":red_circle:", Severity.WARN: ":warning:"}
_RESOLVED_ICON = ":white_check_mark:"


@dataclass(frozen=True)
class RenderedAlert:
    """One alert ready to post: ``text`` is the notification/console form, ``blocks`` the Slack form."""

    channel: str
    text: str
    blocks: list[dict[str, Any]]
    console: str


def label(alert: Alert) -> str:
    return "RESOLVED" if alert.resolved else alert.severity.value.upper()


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The labelled facts every alert shows, in reading order, empty ones left out."""
    pairs = [
        ("Asset", alert.asset or ""),
        ("Partition", alert.partition or ""),
        ("Owner", alert.owner or ""),
        ("Since", _utc(alert.since) if alert.since else ""),
        ("Run", alert.run_id or ""),
        *alert.details,
    ]
    return [(name, value) for name, value in pairs if value]


def render(alert: Alert, channel: str, link: str | None) -> RenderedAlert:
    head = f"{label(alert)}: {alert.title}"
    where = ", ".join(part for part in (alert.asset, alert.partition) if part)
    text = _clip(_escape(head + (f" ({where})" if where else "")), TEXT_LIMIT)
    return RenderedAlert(
        channel=channel,
        text=text,
        blocks=_blocks(alert, link),
        console=_console(alert, channel, link),
    )


def _blocks(alert: Alert, link: str | None) -> list[dict[str, Any]]:
    icon = _RESOLVED_ICON if alert.resolved else _ICONS[alert.severity]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{icon} {label(alert)}: {alert.title}", HEADER_LIMIT), "emoji": True}}
    ]
    shown = facts(alert)
    if len(shown) > MAX_FIELDS:
        shown = shown[: MAX_FIELDS - 1] + [("More", f"{len(shown) - MAX_FIELDS + 1} more facts (see the Dagster UI)")]
    fields = [_field(name, value, alert) for name, value in shown]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    if alert.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _code_block(alert.text)}})
    if link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Open in Dagster>"}]})
    return blocks


def _field(name: str, value: str, alert: Alert) -> dict[str, str]:
    if name == "Since" and alert.since:
        shown = f"<!date^{int(alert.since)}^{{date_short_pretty}} {{time}}|{_utc(alert.since)}>"
    else:
        shown = _escape(value)
    return {"type": "mrkdwn", "text": _clip(f"*{name}*\n{shown}", FIELD_LIMIT)}


def _code_block(text: str) -> str:
    """The last lines of ``text`` that fit one section, as a code block."""
    budget = SECTION_LIMIT - len("```\n…\n```")
    kept: list[str] = []
    for line in reversed(_escape(text.replace("```", "'''")).rstrip().splitlines()):
        if sum(len(k) + 1 for k in kept) + len(line) + 1 > budget:
            kept.append("…")
            break
        kept.append(line)
    return "```\n" + "\n".join(reversed(kept)) + "\n```"


def _console(alert: Alert, channel: str, link: str | None) -> str:
    lines = [f"[alert {label(alert)} -> {channel}] {alert.title}"]
    lines += [f"    {name}: {value}" for name, value in facts(alert)]
    if link:
        lines.append(f"    Link: {link}")
    if alert.text:
        lines += ["    " + line for line in alert.text.rstrip().splitlines()]
    return "\n".join(lines)


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
