"""Ctrl-C during a backfill: the command stops after the run in progress, prints what was done, and
records the Dagster backfill as cancelled (the CLI as a user runs it, in its own process)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.cli.cli_output import summary_rows

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xfail(strict=False, reason="known race: under the two-worker suite the CLI exits 1, not 130, after Ctrl-C; passes alone")
def test_ctrl_c_stops_after_the_current_run_and_summarises_the_work_done(local_env):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = ["--module", "tests.fixtures.cli_catalog", "backfill", "--start", "2026-10-01", "--end", "2026-10-09", "--product", "shaky"]
    cli = subprocess.Popen(
        [sys.executable, "-m", "ml_platform", *argv], cwd=local_env, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    progress = []
    for line in cli.stderr:  # the first run ends: press Ctrl-C
        progress.append(line)
        if " run " in line:
            cli.send_signal(signal.SIGINT)
            break
    out = cli.stdout.read()
    progress += cli.stderr.readlines()
    assert cli.wait(120) == 130
    rows = summary_rows(out)
    days = {partition for _, partition in rows}
    assert "2026-10-01" in days and "2026-10-09" not in days  # what was done, and only that
    assert progress[-1].startswith("ml-platform: stopped (interrupted) after ")
    with dg.DagsterInstance.get() as instance:
        [backfill] = instance.get_backfills()
        assert backfill.status.value == "CANCELED"
        assert len(instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))) == len(days)
