"""Reading what ``ml-platform run`` / ``backfill`` printed."""

import re


def summary_rows(out: str) -> dict[tuple[str, str], str]:
    """{(asset, partition): status} from the summary table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("asset ")) + 2
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        asset, partition, _rows, _seconds, _deadline, status = re.split(r"\s{2,}", line, maxsplit=5)
        rows[(asset, partition)] = status
    return rows
