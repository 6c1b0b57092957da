"""Ctrl-C during a backfill: the command stops after the run in progress, prints what was done, and
records the Dagster backfill as cancelled (the CLI as a user runs it, in its own process)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from tests.cli.cli_output import summary_rows
from tests.fixtures.cli_catalog import PRESSED_DAY

REPO_ROOT = Path(__file__).resolve().parents[2]


def as_from_a_shell() -> None:
    """Ctrl-C's default disposition in the CLI process, as a terminal gives it: a test worker's may
    be inherited as ignored, and an ignored SIGINT never reaches Python at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_after_the_current_run_and_summarises_the_work_done(local_env):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = ["--module", "tests.fixtures.cli_catalog", "backfill", "--start", "2026-10-01", "--end", "2026-10-09", "--product", "shaky"]
    cli = subprocess.Popen(
        [sys.executable, "-m", "ml_platform", *argv], cwd=local_env, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=as_from_a_shell,
    )
    progress = []
    for line in cli.stderr:  # the first run ends: press Ctrl-C
        progress.append(line)
        if " run " in line:
            cli.send_signal(signal.SIGINT)
            break
    out = cli.stdout.read()
    progress += cli.stderr.readlines()
    assert cli.wait(120) == 130, "".join(progress[:8]) + "..." + "".join(progress[-3:])
    rows = summary_rows(out)
    days = {partition for _, partition in rows}
    assert "2026-10-01" in days and "2026-10-09" not in days  # what was done, and only that
    assert progress[-1].startswith("ml-platform: stopped (interrupted) after ")
    with dg.DagsterInstance.get() as instance:
        [backfill] = instance.get_backfills()
        assert backfill.status.value == "CANCELED"
        assert len(instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))) == len(days)


def test_ctrl_c_in_a_tables_own_code_stops_after_that_run_even_when_its_step_may_retry(local_env):
    """Dagster takes an interrupt in user code as a step failure; a retry policy may retry it. The
    batch still stops after that run."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = ["--module", "tests.fixtures.cli_catalog", "backfill", "--start", "2026-10-01", "--end", "2026-10-05", "--product", "pressed"]
    cli = subprocess.run([sys.executable, "-m", "ml_platform", *argv], cwd=local_env, env=env, capture_output=True, text=True, timeout=300,
                         preexec_fn=as_from_a_shell)
    assert cli.returncode == 130, cli.stderr[-2000:]
    days = {partition for _, partition in summary_rows(cli.stdout)}
    assert days == {"2026-10-01", PRESSED_DAY}, cli.stdout  # that run was the last
    assert cli.stderr.splitlines()[-1].startswith("ml-platform: stopped (interrupted) after ")


def test_a_run_failed_by_ctrl_c_reads_interrupted_and_pages_nobody(local_env):
    """The user's own Ctrl-C fails the run it lands in (no retry): not a failure to page anyone about."""
    from ml_platform.cli.code_location import load_code_location
    from tests.fixtures.sensor_ticks import tick_sensor

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = ["--module", "tests.fixtures.cli_catalog", "backfill", "--start", "2026-10-01", "--end", PRESSED_DAY, "--product", "halted"]
    cli = subprocess.run([sys.executable, "-m", "ml_platform", *argv], cwd=local_env, env=env, capture_output=True, text=True, timeout=300,
                         preexec_fn=as_from_a_shell)
    assert cli.returncode == 130, cli.stderr[-2000:]
    rows = summary_rows(cli.stdout)
    assert rows == {("halted_events", "2026-10-01"): "ok (after deadline)", ("halted_events", PRESSED_DAY): "interrupted (Ctrl-C)"}
    with dg.DagsterInstance.get() as instance:
        [backfill] = instance.get_backfills()
        assert backfill.status.value == "CANCELED"  # stopped by its user, though every planned day has a row
        failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert [run.tags["ml_platform/interrupted"] for run in failed] == ["ctrl-c"]
        defs = load_code_location("tests.fixtures.cli_catalog")
        assert "raised 0" in tick_sensor(defs, "run_failure_alerts", instance, None).skip_message
