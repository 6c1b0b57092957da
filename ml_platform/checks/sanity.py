"""Prediction sanity checks from a table's declared expectations: nulls in keys and scores,
score range, duplicate keys, top-k completeness, and column schema change.

Pure functions over a pandas frame (the partition just written) or two column schemas; the
factory in ``ml_platform.checks.quality_checks`` runs them and reports ``AssetCheckResult``s.
"""

from typing import Collection, Mapping

import pandas as pd

from ml_platform.checks.verdict import ERROR, PASS, WARN, Verdict
from ml_platform.declaration import Expectations

NULL_CHECK = "null_rate"
RANGE_CHECK = "score_range"
DUPLICATE_CHECK = "duplicate_keys"
TOP_K_CHECK = "top_k_completeness"
SCHEMA_CHECK = "column_schema_change"
EXAMPLES = 5  # offending values listed in the metadata


def table_check_names(expectations: Expectations) -> list[str]:
    """The content checks a table with these expectations gets."""
    names = [NULL_CHECK, DUPLICATE_CHECK]
    if expectations.score_range is not None:
        names.append(RANGE_CHECK)
    if expectations.top_k is not None:
        names.append(TOP_K_CHECK)
    return names


def assess_table(frame: pd.DataFrame, expectations: Expectations, only: Collection[str] | None = None) -> list[Verdict]:
    """The content checks of ``table_check_names(expectations)`` (those in ``only``, if given), in that order."""
    assessors = {
        NULL_CHECK: assess_nulls,
        DUPLICATE_CHECK: assess_duplicates,
        RANGE_CHECK: assess_score_range,
        TOP_K_CHECK: assess_top_k,
    }
    return [assessors[name](frame, expectations) for name in table_check_names(expectations) if only is None or name in only]


def _missing(check: str, frame: pd.DataFrame, columns: list[str]) -> Verdict | None:
    absent = [c for c in columns if c not in frame.columns]
    if not absent:
        return None
    return Verdict(
        check, ERROR, f"declared column(s) {', '.join(absent)} missing (table has: {', '.join(map(str, frame.columns))})"
    )


def assess_nulls(frame: pd.DataFrame, expectations: Expectations) -> Verdict:
    columns = [*expectations.key_columns, *([expectations.score_column] if expectations.score_column else [])]
    missing = _missing(NULL_CHECK, frame, columns)
    if missing:
        return missing
    rates = {c: float(frame[c].isna().mean()) if len(frame) else 0.0 for c in columns}
    over = {c: r for c, r in rates.items() if r > expectations.max_null_rate}
    metadata = {"null_rates": rates, "max_null_rate": expectations.max_null_rate}
    if over:
        worst = ", ".join(f"{c} {r:.2%}" for c, r in over.items())
        return Verdict(NULL_CHECK, ERROR, f"null rate above {expectations.max_null_rate:.2%}: {worst}", metadata)
    return Verdict(NULL_CHECK, PASS, f"null rates within {expectations.max_null_rate:.2%}", metadata)


def assess_score_range(frame: pd.DataFrame, expectations: Expectations) -> Verdict:
    column = expectations.score_column
    missing = _missing(RANGE_CHECK, frame, [column])
    if missing:
        return missing
    low, high = expectations.score_range
    scores = pd.to_numeric(frame[column], errors="coerce")
    outside = scores[(scores < low) | (scores > high)]
    metadata = {
        "min": float(scores.min()) if scores.notna().any() else None,
        "max": float(scores.max()) if scores.notna().any() else None,
        "outside": int(len(outside)),
        "range": [low, high],
    }
    if len(outside):
        examples = ", ".join(f"{v:g}" for v in outside.head(EXAMPLES))
        return Verdict(RANGE_CHECK, ERROR, f"{len(outside)} {column} value(s) outside [{low}, {high}], e.g. {examples}", metadata)
    return Verdict(RANGE_CHECK, PASS, f"every {column} within [{low}, {high}]", metadata)


def assess_duplicates(frame: pd.DataFrame, expectations: Expectations) -> Verdict:
    keys = list(expectations.key_columns)
    missing = _missing(DUPLICATE_CHECK, frame, keys)
    if missing:
        return missing
    duplicated = frame[frame.duplicated(keys, keep=False)]
    count = int(frame.duplicated(keys).sum())
    metadata = {"duplicate_rows": count, "key_columns": keys}
    if count:
        examples = duplicated[keys].drop_duplicates().head(EXAMPLES).to_dict("records")
        metadata["examples"] = [{k: str(v) for k, v in row.items()} for row in examples]
        return Verdict(DUPLICATE_CHECK, ERROR, f"{count} row(s) repeat a key ({', '.join(keys)})", metadata)
    return Verdict(DUPLICATE_CHECK, PASS, f"keys ({', '.join(keys)}) are unique", metadata)


def assess_top_k(frame: pd.DataFrame, expectations: Expectations) -> Verdict:
    entity, k = expectations.key_columns[0], expectations.top_k
    missing = _missing(TOP_K_CHECK, frame, [entity])
    if missing:
        return missing
    sizes = frame.groupby(entity, dropna=False).size()
    incomplete = sizes[sizes != k]
    metadata = {"k": k, "entities": int(len(sizes)), "incomplete": int(len(incomplete))}
    if len(incomplete):
        metadata["examples"] = {str(e): int(n) for e, n in incomplete.head(EXAMPLES).items()}
        return Verdict(
            TOP_K_CHECK, ERROR, f"{len(incomplete)} of {len(sizes)} {entity} value(s) do not have exactly {k} rows", metadata
        )
    return Verdict(TOP_K_CHECK, PASS, f"all {len(sizes)} {entity} values have {k} rows", metadata)


def assess_schema_change(current: Mapping[str, str] | None, previous: Mapping[str, str] | None) -> Verdict:
    """Compare ``{column: type}`` of this materialization with the previous one. A removed column
    or a changed type breaks readers (ERROR); an added column does not (WARN)."""
    if current is None:
        return Verdict(SCHEMA_CHECK, PASS, "no column schema in the materialization metadata: nothing to compare")
    if previous is None:
        return Verdict(SCHEMA_CHECK, PASS, "no previous materialization with a column schema: nothing to compare")
    added = sorted(set(current) - set(previous))
    removed = sorted(set(previous) - set(current))
    retyped = {c: f"{previous[c]} -> {current[c]}" for c in sorted(set(current) & set(previous)) if current[c] != previous[c]}
    metadata = {"added": added, "removed": removed, "type_changes": retyped, "columns": dict(current)}
    changes = [
        *(f"removed {c}" for c in removed),
        *(f"{c}: {change}" for c, change in retyped.items()),
        *(f"added {c}" for c in added),
    ]
    if removed or retyped:
        return Verdict(SCHEMA_CHECK, ERROR, "column schema changed: " + "; ".join(changes), metadata)
    if added:
        return Verdict(SCHEMA_CHECK, WARN, "column schema changed: " + "; ".join(changes), metadata)
    return Verdict(SCHEMA_CHECK, PASS, f"same {len(current)} columns as the previous materialization", metadata)
