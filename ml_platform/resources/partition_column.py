"""The partition column of a daily table, checked against its partition before any write.

A rerun replaces a partition by the rows whose partition column falls in the partition's time
window: Dagster's DuckDB writer deletes ``column >= 'start' AND column < 'end'`` and our BigQuery
writer loads into ``table$YYYYMMDD``. Both only work on one stored type: a **naive timestamp
holding the wall clock in the table's SLO time zone** (DuckDB ``TIMESTAMP``, BigQuery
``DATETIME``), e.g. ``pd.Timestamp("2026-11-01")``. Any other type lets a delete match nothing
(strings compare as text) or the wrong hours (a UTC timestamp against a Tokyo day), and every
rerun of the day would append a second copy.

So each write first converts what is unambiguous to that type — ``datetime.date`` values and ISO
strings (``"2026-11-01"``, ``"2026-11-01T00:00:00+09:00"``) are parsed, tz-aware timestamps are
converted to the partition's time zone — and refuses the rest (numbers, other string formats,
missing values, rows of another day) with an error naming the table, the column and the type.
"""

import re
from datetime import date, timedelta

import pandas as pd

STORED_TYPE = "a naive timestamp (wall clock in the table's time zone)"
ACCEPTED = "datetime64 (naive, or tz-aware: converted), datetime.date values or ISO strings ('YYYY-MM-DD')"
# A whole calendar date first: pandas' ISO 8601 parser also reads '2026/11/01', '20261101' and
# '2026-11' (as the 1st), which a rerun's delete would then match differently from the writer.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def partition_days(window) -> list[pd.Timestamp]:
    """The days (naive midnights, partition time zone) of a daily partition time window."""
    days = pd.date_range(window.start, window.end - timedelta(seconds=1), freq="D", normalize=True)
    return [day.tz_localize(None) for day in days]


def conform_partition_column(table: str, frame: pd.DataFrame, column: str, window) -> pd.DataFrame:
    """``frame`` with ``column`` as naive timestamps in ``window``'s time zone; ValueError when the
    column is missing, not unambiguously a date or time, or holds a day outside ``window``."""
    if column not in frame.columns:
        raise ValueError(f"table '{table}': output has no partition column '{column}' (columns: {', '.join(map(str, frame.columns))})")
    values = frame[column]
    stamps = _as_naive_timestamps(table, values, column, str(window.start.tzinfo))
    days = partition_days(window)
    first, last = stamps.min(), stamps.max()  # the window's days are contiguous: its bounds suffice
    if first < days[0] or last >= days[-1] + pd.Timedelta(days=1):
        stray = first if first < days[0] else last
        raise ValueError(
            f"table '{table}': partition column '{column}' holds {stray.date()}, outside the partition"
            f" {days[0].date()}..{days[-1].date()} being written"
        )
    return frame if stamps is values else frame.assign(**{column: stamps})  # no copy when already right


def _as_naive_timestamps(table: str, values: pd.Series, column: str, timezone: str) -> pd.Series:
    def refuse(found: str) -> ValueError:
        return ValueError(
            f"table '{table}': partition column '{column}' has type {found}; it must hold dates: {ACCEPTED}"
        )

    if values.isna().any():
        raise ValueError(f"table '{table}': partition column '{column}' has {int(values.isna().sum())} missing value(s)")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(timezone).dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values
    if not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)):
        raise refuse(str(values.dtype))
    kinds = {type(v) for v in values}
    if kinds <= {str}:
        odd = values[~values.str.fullmatch(_ISO_DAY)]
        if len(odd):
            raise refuse(f"string (e.g. {odd.iloc[0]!r}, not ISO 8601 'YYYY-MM-DD')")
        try:
            parsed = pd.to_datetime(values, format="ISO8601")
        except (ValueError, TypeError):
            raise refuse(f"string (e.g. {values.iloc[0]!r}, not ISO 8601 'YYYY-MM-DD')") from None
    elif all(issubclass(kind, date) for kind in kinds):  # date, datetime and pd.Timestamp values
        try:
            parsed = pd.to_datetime(values)
        except (ValueError, TypeError):
            raise refuse("object (datetimes with different time zones)") from None
    else:
        raise refuse(f"object ({', '.join(sorted(k.__name__ for k in kinds))})")
    if not pd.api.types.is_datetime64_any_dtype(parsed.dtype):  # different UTC offsets, or naive mixed with aware
        if not all(getattr(stamp, "tzinfo", None) is not None for stamp in parsed):
            raise refuse("object (times with and without a UTC offset mixed)")
        parsed = pd.to_datetime(parsed, utc=True)  # each at its own offset: one instant each, then the partition's zone
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert(timezone).dt.tz_localize(None)
    return parsed


def stored_type_problem(table: str, column: str, stored_type: str, timezone: str) -> str | None:
    """Why an existing table's partition column cannot be replaced partition by partition (None: it can)."""
    kind = stored_type.upper()
    if kind == "DATE" or (kind.startswith("TIMESTAMP") and kind not in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")):
        return None
    return (
        f"table '{table}': its stored partition column '{column}' is {stored_type}, so a rerun cannot replace a partition"
        f" (it must be {STORED_TYPE}). Remove duplicated days, then convert it once to a TIMESTAMP in {timezone}"
    )
