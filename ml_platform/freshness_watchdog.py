"""Can Dagster's freshness states be trusted right now? Only while its freshness daemon runs.

The daemon writes a state record only when an asset's state changes (``updated_at`` is the change),
so a record's age says nothing: once the daemon stops, yesterday's PASS stays PASS for good. Its
heartbeat does. The ``dagster-daemon`` process writes one per daemon every 30 s, between
iterations (an iteration that hangs stops it), with the errors of its recent iterations.
The SLO sensor judges unpartitioned assets itself while the daemon is down, and
``sensor_health_alerts`` says so once.
"""

from dataclasses import dataclass

import dagster as dg

DAEMON_TYPE = "FRESHNESS_DAEMON"  # FreshnessDaemon.daemon_type()
STALE_AFTER_SECONDS = 120.0  # four heartbeat intervals (and four of the daemon's default 30 s iterations)


@dataclass(frozen=True)
class DaemonHealth:
    trusted: bool  # its states are current
    problem: str | None  # why not, when the instance is meant to run it (None: running, or switched off)
    last_heartbeat: float | None


def daemon_health(instance: dg.DagsterInstance, now: float) -> DaemonHealth:
    """One storage call: the daemons' latest heartbeats."""
    if not instance.freshness_enabled:  # ``freshness: enabled: false``: switched off on purpose
        return DaemonHealth(trusted=False, problem=None, last_heartbeat=None)
    heartbeat = instance.get_daemon_heartbeats().get(DAEMON_TYPE)
    if heartbeat is None:
        return DaemonHealth(trusted=False, problem="no heartbeat ever recorded", last_heartbeat=None)
    if heartbeat.timestamp < now - STALE_AFTER_SECONDS:
        return DaemonHealth(trusted=False, problem=f"no heartbeat for {int(now - heartbeat.timestamp)} s", last_heartbeat=heartbeat.timestamp)
    if heartbeat.errors:
        error = (heartbeat.errors[0].message.strip().splitlines() or ["unknown error"])[0]
        return DaemonHealth(trusted=False, problem=f"its iterations fail: {error}", last_heartbeat=heartbeat.timestamp)
    return DaemonHealth(trusted=True, problem=None, last_heartbeat=heartbeat.timestamp)
