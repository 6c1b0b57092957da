"""What a failure alert says about the error: the root cause, not Dagster's wrapper around it.

A step failure's ``SerializableErrorInfo`` is usually Dagster's own error (e.g. "Error occurred
while executing op ...") whose ``.cause`` chain ends in the user's exception. People act on the
last frames and the message of that root exception.
"""

from dataclasses import dataclass

from dagster_shared.error import SerializableErrorInfo  # the type of every error Dagster stores

TRACEBACK_LINES = 20


@dataclass(frozen=True)
class FailureSummary:
    headline: str  # "ValueError: score column has NaN values"
    traceback_tail: str  # last frames and the message of the root exception


def root_cause(error: SerializableErrorInfo) -> SerializableErrorInfo:
    while error.cause is not None:
        error = error.cause
    return error


def summarize(error: SerializableErrorInfo) -> FailureSummary:
    root = root_cause(error)
    message = root.message.strip() or (root.cls_name or "error")
    frames = "".join(root.stack).rstrip().splitlines()
    tail = "\n".join([*frames[-TRACEBACK_LINES:], message])
    return FailureSummary(headline=message.splitlines()[0][:300], traceback_tail=tail)
