"""A warehouse IO manager that can also write one partition from inside a step.

A ranged run (``ml_platform.ranged_runs``) whose function failed on some partitions writes the
partitions that succeeded before the step fails, so they are not lost. Each one goes through the
same ``handle_output`` as a step's output (the same atomic replace of one partition, the same
guards), with the IO manager's resolved configuration.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from ml_platform._dagster_internal import DbIOManager


class PartitionWritingDbIOManager(DbIOManager):
    def __init__(self, resource_config: Mapping[str, Any], **kwargs):
        super().__init__(**kwargs)
        self._resource_config = dict(resource_config)

    def write_partition(
        self, key: dg.AssetKey, partition: str, partitions_def: dg.PartitionsDefinition, definition_metadata: Mapping[str, Any], frame: pd.DataFrame
    ) -> dict[str, Any]:
        """Writes ``frame`` as ``partition`` of table ``key``; returns the metadata the IO manager recorded."""
        context = dg.build_output_context(
            asset_key=key, partition_key=partition, asset_partitions_def=partitions_def,
            definition_metadata=definition_metadata, resource_config=self._resource_config,
        )
        self.handle_output(context, frame)
        return dict(context.get_logged_metadata())
