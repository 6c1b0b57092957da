"""Where an alert ledger's bulky parts live: the Dagster instance's key-value store.

Dagster stores a sensor's cursor again with every tick record (skipped ticks are kept for days),
so the cursor holds only small state (counters, read positions). Open incidents, the undelivered
backlog, dead letters and a sensor's large tables (e.g. the SLO sensor's first materialization per
table and deadline) are kept here, in a fixed number of small chunks per sensor and section::

    ml_platform/alerts/<sensor>/<section>/<chunk>  ->  {"<entry id>": <entry>, ...}

An entry's chunk is a hash of its id, so the set of keys is fixed: nothing accumulates (a
resolved incident or a delivered alert is removed from its chunk; an empty chunk is ``{}``), and a
write touches only the chunks whose content changed. All chunks of a sensor are read in one query.
The store has no delete: rows stay, bounded by the chunk count, and shrink with their content.
"""

import json
import zlib
from typing import Any

import dagster as dg

from ml_platform import instance_reads

PREFIX = "ml_platform/alerts"
CHUNKS = {"open": 32, "outbox": 32, "dead": 4}
STATE_CHUNKS = 32  # for each sensor-owned state table kept here (``state.<name>``)
EMPTY = "{}"


def chunk_count(section: str) -> int:
    return CHUNKS.get(section, STATE_CHUNKS)


def chunk_of(section: str, entry_id: str) -> int:
    return zlib.crc32(entry_id.encode()) % chunk_count(section)


def store_key(sensor: str, section: str, chunk: int) -> str:
    return f"{PREFIX}/{sensor}/{section}/{chunk}"


def _dump(entries: dict[str, Any]) -> str:
    return json.dumps(entries, separators=(",", ":"), sort_keys=True) if entries else EMPTY


class LedgerStore:
    """One sensor's chunks: read once at load, then only changed chunks are written."""

    def __init__(self, instance: dg.DagsterInstance, sensor: str, sections: list[str]):
        self.instance, self.sensor, self.sections = instance, sensor, list(sections)
        keys = {store_key(sensor, s, c) for s in self.sections for c in range(chunk_count(s))}
        stored = instance_reads.stored_values(instance, keys)
        self.existing: set[str] = set(stored)
        self.written: dict[str, str] = {k: stored.get(k, EMPTY) for k in keys}  # what the store holds
        self.bytes_written = 0  # keys and values written through this object (the benchmark reads it)
        self.keys_written = 0

    def read(self, section: str) -> dict[str, Any]:
        """Every entry of one section, merged across its chunks."""
        entries: dict[str, Any] = {}
        for chunk in range(chunk_count(section)):
            entries.update(json.loads(self.written[store_key(self.sensor, section, chunk)]))
        return entries

    def write(self, section: str, entries: dict[str, Any], only: set[str] | None = None) -> None:
        """Make the store hold exactly ``entries`` for ``section``, writing changed chunks only
        (with ``only``, just the chunks of those entry ids)."""
        chunks: dict[int, dict[str, Any]] = {c: {} for c in range(chunk_count(section))}
        wanted = None if only is None else {chunk_of(section, i) for i in only}
        for entry_id, entry in entries.items():
            chunk = chunk_of(section, entry_id)
            if wanted is None or chunk in wanted:
                chunks[chunk][entry_id] = entry
        changed = {}
        for chunk, content in chunks.items():
            if wanted is not None and chunk not in wanted:
                continue
            key, value = store_key(self.sensor, section, chunk), _dump(content)
            if self.written.get(key, EMPTY) != value:
                changed[key] = value
        if changed:
            instance_reads.store_values(self.instance, changed, self.existing)
            self.written.update(changed)
            self.bytes_written += sum(len(k) + len(v.encode()) for k, v in changed.items())
            self.keys_written += len(changed)


def peek(instance: dg.DagsterInstance, sensors: list[str], section: str) -> dict[str, dict[str, Any]]:
    """One section of several sensors' ledgers (read only, one query): {sensor: {id: entry}}."""
    keys = {store_key(s, section, c): s for s in sensors for c in range(chunk_count(section))}
    found: dict[str, dict[str, Any]] = {s: {} for s in sensors}
    for key, value in instance_reads.stored_values(instance, set(keys)).items():
        found[keys[key]].update(json.loads(value))
    return found
