"""Where commands work: a project's instance wherever in it they start (a new one is announced), one
``ml-platform ui`` per instance, and a missing price sheet said before any run."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ml_platform.cli import main
from ml_platform.cli.ui import LOCK_FILE
from tests.fixtures.postgres import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_exec(monkeypatch):
    """``ml-platform ui`` must refuse before it execs ``dagster dev`` (which would replace this process)."""

    def refuse(*args):
        raise AssertionError(f"ml-platform ui started dagster dev: {args}")

    monkeypatch.setattr(os, "execv", refuse)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A team's project: pyproject.toml names its code location; no DAGSTER_HOME in the environment."""
    (tmp_path / "pyproject.toml").write_text('[tool.dagster]\nmodule_name = "tests.fixtures.cli_catalog"\n')
    (tmp_path / "notebooks" / "drafts").mkdir(parents=True)
    for name in ("DAGSTER_HOME", "ML_PLATFORM_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_commands_in_a_subfolder_use_the_projects_instance_and_a_new_one_is_announced(project, monkeypatch, capsys):
    assert main(["rightsize", "--json"]) == 0
    home = project / ".ml_platform" / "dagster_home"
    assert capsys.readouterr().err == f"ml-platform: new local Dagster instance in {home}\n"

    monkeypatch.chdir(project / "notebooks" / "drafts")
    assert main(["slo-report", "--days", "1", "--out", "attainment.png"]) == 0
    assert capsys.readouterr().err == ""  # the project's instance: nothing new
    assert not (project / "notebooks" / "drafts" / ".ml_platform").exists()
    assert (project / "notebooks" / "drafts" / "attainment.png").exists()  # a path is where the user typed it
    assert os.environ["DAGSTER_HOME"] == str(home)


def test_a_second_ui_on_the_same_instance_is_refused_before_it_prints_a_url(local_env, no_exec, capsys):
    home = Path(os.environ["DAGSTER_HOME"])
    # The first `ml-platform ui`: takes the lock, then execs (here into a sleeper, standing for dagster dev).
    first = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; from ml_platform.cli.ui import hold_instance_lock; "
            "hold_instance_lock(Path(sys.argv[1]), 3000); "
            "os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)'])",
            str(home),
        ],
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while "pid" not in ((home / LOCK_FILE).read_text() if (home / LOCK_FILE).exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, "the first ui did not take the lock"
            time.sleep(0.2)
        time.sleep(1)  # past the exec: the lock must outlive it
        assert main(["ui", "--port", str(free_port())]) == 2
        out, err = capsys.readouterr()
        assert out == ""  # no URL
        assert f"ml-platform ui is already running on this instance ({home}): pid {first.pid}, http://localhost:3000" in err
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize("preset", [None, "https://dagster.example.org"])
def test_alerts_from_the_uis_daemon_link_to_the_port_it_serves_unless_the_url_is_set(local_env, monkeypatch, preset):
    """The sensors run in the processes ``dagster dev`` starts, which inherit the exec's environment."""
    from ml_platform.alerting.sink import alert_sink_from_env

    monkeypatch.setenv("ML_PLATFORM_UI_URL", preset or "")  # restored after the test, as the exec sets it
    if not preset:
        monkeypatch.delenv("ML_PLATFORM_UI_URL")
    started = []
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append(argv))
    port = free_port()
    main(["ui", "--port", str(port)])
    assert started and started[0][-2:] == ["-p", str(port)]
    assert alert_sink_from_env().ui_url == (preset or f"http://localhost:{port}")


def test_a_ui_on_a_busy_port_is_refused_before_it_prints_a_url(local_env, no_exec, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"ml-platform: port {port} is in use: pass --port with a free one, e.g. --port {port + 1}\n"


def test_a_missing_price_sheet_is_said_before_any_run(local_env, monkeypatch, capsys):
    monkeypatch.setenv("ML_PLATFORM_PRICE_SHEET", str(local_env / "prices.toml"))
    main(["backfill", "--start", "2026-11-01", "--end", "2026-11-01", "--product", "article_recs"])  # refused: no input
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"ml-platform: warning: price sheet {local_env / 'prices.toml'}: cannot be read (No such file or directory); "
        "set ML_PLATFORM_PRICE_SHEET to a TOML file; these runs will record no cost"
    )
