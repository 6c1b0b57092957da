"""The ``pin_prediction_reference`` job: pin a prediction table's monitoring reference from the UI
(Jobs → pin_prediction_reference → Launchpad, ``ops.pin_reference.config``: ``table`` and,
optionally, ``since``), as ``ml-platform pin-reference`` does from a shell. The pin is recorded as
an observation of the table, so it shows on the asset's page next to the checks it changes."""

import dagster as dg

from ml_platform.checks.prediction_monitoring import MONITORING_PROFILE, monitoring_of
from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import Catalog
from ml_platform.monitoring.reference_store import pin_reference

JOB_NAME = "pin_prediction_reference"
OP_NAME = "pin_reference"  # an op may not share its job's name


class PinReference(dg.Config):
    table: str  # the prediction table (asset key)
    since: str | None = None  # first partition of the reference (default: the newest materialized)


def build_pin_reference_job(catalog: Catalog) -> dg.JobDefinition:
    monitored = sorted(k.to_user_string() for k, d in catalog.items() if monitoring_of(d))

    @dg.op(name=OP_NAME, out={}, tags=PROFILES[MONITORING_PROFILE].op_tags())
    def pin(context: dg.OpExecutionContext, config: PinReference):
        if config.table not in monitored:
            raise dg.Failure(f"'{config.table}' is not a monitored prediction table (monitored: {', '.join(monitored) or 'none'})", allow_retries=False)
        key = dg.AssetKey.from_user_string(config.table)
        pinned = pin_reference(context.instance, key, config.since, by=f"run {context.run_id}")
        context.log.info(f"{config.table}: reference {pinned.describe()}")
        yield dg.AssetObservation(asset_key=key, metadata={"reference pinned since": pinned.since, "pinned by": pinned.reason})

    @dg.job(name=JOB_NAME, description="Pin a prediction table's drift and coverage reference: its partitions from `since` on are the known good.")
    def pin_job():
        pin()

    return pin_job
