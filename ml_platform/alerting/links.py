"""Deep links into the Dagster UI, for every alert sender."""

from urllib.parse import quote, urlencode

import dagster as dg


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{quote(run_id)}"


def asset_url(ui_url: str, asset_key: dg.AssetKey | str, partition: str | None = None, view: str | None = None) -> str:
    """An asset's page; with a partition, its partitions view on that partition; or another ``view`` (e.g. checks)."""
    path = asset_key.path if isinstance(asset_key, dg.AssetKey) else asset_key.split("/")
    url = f"{ui_url.rstrip('/')}/assets/{'/'.join(quote(part, safe='') for part in path)}"
    query = {"view": "partitions", "partition": partition} if partition else {"view": view} if view else {}
    return url + ("?" + urlencode(query) if query else "")


def sensor_url(ui_url: str, sensor_name: str, location_name: str) -> str:
    return f"{ui_url.rstrip('/')}/locations/{quote(location_name)}/sensors/{quote(sensor_name)}"
