"""The statistics whose distribution a prediction table's drift check watches, read from one partition.

* the score column;
* each declared segment column: numeric columns by value, the others (text, booleans, categories)
  as categories, so an unseen category is named;
* for a top-k table (k rows per entity): the score at rank k (the lowest score of each entity's
  list: a collapsing ranking lowers it before the mean moves) and the item mix (how often each item
  is recommended, as categories).
"""

import pandas as pd

from ml_platform.monitoring.settings import Monitoring
from ml_platform.monitoring.sketch import Sketch


def is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def rank_k_name(score_column: str, top_k: int) -> str:
    return f"{score_column} at rank {top_k}"


def item_mix_name(item_column: str) -> str:
    return f"{item_column} mix"


def columns_read(score_column: str, settings: Monitoring) -> list[str]:
    """Columns of the table the check reads (besides the partition column)."""
    wanted = (settings.entity_column, score_column, *settings.segment_columns, settings.item_column, settings.fallback_column)
    return [c for c in dict.fromkeys(wanted) if c]


def measure_statistics(frame: pd.DataFrame, score_column: str, settings: Monitoring, top_k: int | None) -> dict[str, Sketch]:
    """Every watched statistic of one partition, exact (``Sketch.compact`` before storing)."""
    found = {score_column: Sketch.of(frame[score_column], categorical=False)}
    for column in settings.segment_columns:
        found[column] = Sketch.of(frame[column], categorical=is_categorical(frame[column]))
    if top_k and settings.entity_column:
        lowest = frame.groupby(settings.entity_column, sort=False)[score_column].min()
        found[rank_k_name(score_column, top_k)] = Sketch.of(lowest, categorical=False)
    if settings.item_column and settings.watch_item_mix:
        found[item_mix_name(settings.item_column)] = Sketch.of(frame[settings.item_column], categorical=True)
    return found
