"""Every bad input gets one line naming the thing and the fix (the valid range or the names known),
exit code 2, no traceback, and nothing run."""

from datetime import date, timedelta

import dagster as dg
import pytest

from ml_platform.cli import main

TOMORROW = date.today() + timedelta(days=1)

CASES = {
    "unknown product": (["run", "--product", "nope"], "unknown product(s) nope (known: article_recs, propensity, related_content)"),
    "date before the partitions": (
        ["run", "--date", "2025-12-31", "--product", "propensity"],
        "date 2025-12-31 is outside the partitions of product propensity: 2026-01-01 to ",
    ),
    "backfill into the future": (
        ["backfill", "--start", str(TOMORROW - timedelta(days=3)), "--end", str(TOMORROW + timedelta(days=5))],
        "is outside the partitions of product ",
    ),
    "not a date": (["run", "--date", "2026-13-01"], "argument --date: '2026-13-01' is not a date: use YYYY-MM-DD"),
    "compact date": (["backfill", "--start", "20261110", "--end", "2026-11-11"], "argument --start: '20261110' is not a date: use YYYY-MM-DD"),
    "slashed date": (["run", "--date", "2026/11/10"], "argument --date: '2026/11/10' is not a date: use YYYY-MM-DD"),
    "module typo": (["--module", "ml_platfrom.definitions", "run"], "module 'ml_platfrom.definitions' not found"),
    "misspelled input": (
        ["--module", "tests.fixtures.misspelled_input", "run"],
        "asset 'team_scores' reads 'team_featurez', which is not an asset here (did you mean team_features?)",
    ),
    "negative margin": (["rightsize", "--margin", "-1"], "argument --margin: -1 is out of range: 0 or more"),
    "zero days": (["slo-report", "--days", "0"], "argument --days: 0 is out of range: a whole number of at least 1"),
}


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exited:  # argparse refuses a bad value before main's body runs
        return exited.code


@pytest.mark.parametrize("argv, expected", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_with_the_fix_and_runs_nothing(local_env, capsys, argv, expected):
    code = exit_code(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_records() == []


def test_production_without_its_gcp_variables_names_them_before_any_run(local_env, capsys, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_ENV", "production")
    for name in ("ML_PLATFORM_GCP_PROJECT", "ML_PLATFORM_BIGQUERY_DATASET", "ML_PLATFORM_GCP_LOCATION", "ML_PLATFORM_MODEL_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ML_PLATFORM_GCP_PROJECT", "acme-ml")  # one of them set: only the others are named
    assert main(["run", "--product", "propensity"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "ml-platform: ML_PLATFORM_ENV=production: set ML_PLATFORM_BIGQUERY_DATASET, ML_PLATFORM_GCP_LOCATION, "
        "ML_PLATFORM_MODEL_BUCKET (read by the resources io_manager, model_io_manager, window_reader), "
        "or unset ML_PLATFORM_ENV to run locally\n"
    )
