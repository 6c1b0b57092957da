"""What a failure alert says about the error: the root cause, not Dagster's wrapper around it.

A step failure's ``SerializableErrorInfo`` is usually Dagster's own error (e.g. "Error occurred
while executing op ...") whose ``.cause`` is the exception the table's code or the platform raised.
People act on the last frames and the message of that exception.
"""

from dataclasses import dataclass

from dagster_shared.error import SerializableErrorInfo  # the type of every error Dagster stores

TRACEBACK_LINES = 20
# Dagster's wrappers without the "Dagster" prefix: a retry policy's "Exceeded max_retries of N".
_WRAPPERS = {"RetryRequestedFromPolicy", "RetryRequested"}


@dataclass(frozen=True)
class FailureSummary:
    headline: str  # "ValueError: score column has NaN values"
    traceback_tail: str  # last frames and the message of the root exception


def root_cause(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The outermost error that is not Dagster's wrapper: what the table's code or the platform
    raised. An error raised ``from`` another keeps its own words (the platform's "upstream not
    ready" over DuckDB's CatalogException); the one below is in its traceback."""
    while error.cause is not None and _is_wrapper(error):
        error = error.cause
    return error


def _is_wrapper(error: SerializableErrorInfo) -> bool:
    """Dagster's own errors around the one raised (``dagster._core.errors``: step, sensor, schedule
    execution errors), and its retry policy's."""
    name = error.cls_name or ""
    return name.startswith("Dagster") or name in _WRAPPERS or (error.message or "").startswith("dagster._core.errors.")


def summarize(error: SerializableErrorInfo) -> FailureSummary:
    root = root_cause(error)
    message = root.message.strip() or (root.cls_name or "error")
    frames = "".join(root.stack).rstrip().splitlines()
    tail = "\n".join([*frames[-TRACEBACK_LINES:], message])
    return FailureSummary(headline=_short_class(message.splitlines()[0])[:300], traceback_tail=tail)


def _short_class(line: str) -> str:
    """``ml_platform.checks.gate.UpstreamNotReady: …`` -> ``UpstreamNotReady: …``."""
    name, _, rest = line.partition(": ")
    return f"{name.rsplit('.', 1)[-1]}: {rest}" if rest and " " not in name else line
