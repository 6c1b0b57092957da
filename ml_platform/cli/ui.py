"""``ml-platform ui``: ``dagster dev`` (webserver and daemon) on the project's local instance, once.

A second ``ml-platform ui`` on the same instance would start a second daemon (schedules and sensors
ticking twice, alerts sent twice) and a webserver that cannot bind: it is refused before anything
starts, as is a port already in use. The first one holds a lock on the instance for as long as its
``dagster dev`` process lives (the lock's file descriptor survives the exec).
"""

import argparse
import fcntl
import os
import socket
import sys
from pathlib import Path

from ml_platform.cli.code_location import ensure_local_home, workspace_file_for

LOCK_FILE = "ml-platform-ui.lock"


def add_commands(commands: argparse._SubParsersAction) -> None:
    ui = commands.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on the local instance")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=ui_command)


def hold_instance_lock(home: Path, port: int) -> int:
    """Lock the instance for this UI (the fd stays open across exec); refuse if another UI holds it."""
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ValueError(
            f"ml-platform ui is already running on this instance ({home}): {holder}. "
            "Open that one, or stop it (Ctrl-C in its terminal) first"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}, http://localhost:{port}".encode())
    os.set_inheritable(fd, True)
    return fd


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the webserver binds it
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ui_command(args: argparse.Namespace) -> int:
    home = ensure_local_home()
    if not port_is_free(args.port):
        raise ValueError(f"port {args.port} is in use: pass --port with a free one, e.g. --port {args.port + 1}")
    hold_instance_lock(home, args.port)
    workspace = workspace_file_for(args.module, Path.cwd())
    target = ["-w", str(workspace)] if workspace else ["-m", args.module]
    print(f"Dagster UI on http://localhost:{args.port} (instance: {home})", flush=True)
    # The alerts its daemon sends link to this UI, unless the user set where the UI is seen from.
    os.environ.setdefault("ML_PLATFORM_UI_URL", f"http://localhost:{args.port}")
    # The interpreter running us has dagster installed, whether or not its venv is activated.
    os.execv(sys.executable, [sys.executable, "-m", "dagster", "dev", *target, "-p", str(args.port)])
