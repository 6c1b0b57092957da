"""Bounded alert state: the ledger's bulky parts live in the instance's key-value store, the cursor
stays small, a delivered alert is recorded at once, and an old-format cursor still loads. Through
the real data-quality sensor, the real AlertSink and the local Slack server."""

import json
import multiprocessing

import dagster as dg
import pytest

from ml_platform.alerting import AlertLedger, AlertSink
from ml_platform.alerting.ledger_store import CHUNKS, PREFIX, store_key
from ml_platform.checks.alerts import SENSOR_NAME, data_quality_alerts
from ml_platform.checks.quality_checks import build_quality_checks
from ml_platform.checks.row_count import CHANGE_CHECK
from ml_platform.declaration import SLO, Expectations, PredictionTable, declared_specs
from tests.fixtures.sensor_ticks import tick_sensor
from tests.fixtures.slack_api import TEST_TOKEN

PARTITION = "2026-03-10"
TRACEBACK = "\n".join(f'  File "/app/ml_platform/checks/row_count.py", line {n}, in check' for n in range(40))


def tables(n: int) -> list[PredictionTable]:
    return [
        PredictionTable(
            name=f"scores_{i:03d}",
            product="bench",
            owner="team:scores",
            slo=SLO("0 8 * * *"),
            compute="small",
            expectations=Expectations(key_columns=("user_id",)),
        )
        for i in range(n)
    ]


def definitions(n: int, slack_url: str) -> dg.Definitions:
    assets = []
    for declaration in tables(n):

        @dg.asset(**declaration.asset_kwargs())
        def _table() -> None: ...

        assets.append(_table)
    sink = AlertSink(slack_token=TEST_TOKEN, slack_api_url=slack_url, ui_url="http://ui")
    return dg.Definitions(
        assets=assets, asset_checks=build_quality_checks(declared_specs(assets)), sensors=[data_quality_alerts], resources={"alert_sink": sink}
    )


def fail_checks(instance: dg.DagsterInstance, n: int, passed: bool = False) -> None:
    """Every table's row_count_change check fails (or passes) on PARTITION, with a long summary."""
    for declaration in tables(n):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(declaration.name),
                check_name=CHANGE_CHECK,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"partition": PARTITION},
                description="row count fell by half\n" + TRACEBACK,
            )
        )


class KvWrites:
    """What the ledger writes to the instance's key-value store (Dagster's storage, observed)."""

    def __init__(self, instance: dg.DagsterInstance):
        self.pairs: list[dict[str, str]] = []
        storage = instance.daemon_cursor_storage
        original = storage.set_cursor_values

        def recorded(pairs):
            self.pairs.append(dict(pairs))
            return original(pairs)

        storage.set_cursor_values = recorded

    def take(self) -> int:
        """Bytes written since the last take (keys and values)."""
        written = sum(len(k) + len(v.encode()) for pairs in self.pairs for k, v in pairs.items())
        self.pairs.clear()
        return written


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        yield instance


def test_cursor_stays_small_with_many_open_incidents_and_a_steady_tick_writes_nothing(slack_api, instance):
    n = 80
    defs = definitions(n, slack_api.url)
    writes = KvWrites(instance)
    fail_checks(instance, n)

    cold = tick_sensor(defs, SENSOR_NAME, instance, None)
    assert len(slack_api.messages) == n and "raised 80" in cold.skip_message
    ledger = AlertLedger.load(instance, SENSOR_NAME, cold.cursor)
    assert len(ledger.open) == n and ledger.outbox == []
    old_format = ledger.to_cursor()  # what the cursor held before: the whole ledger
    assert len(cold.cursor.encode()) < 2048 < 50 * 1024 < len(old_format.encode()), (len(cold.cursor), len(old_format))
    assert writes.take() > 50 * 1024  # the incidents went to the store once

    steady = tick_sensor(defs, SENSOR_NAME, instance, cold.cursor)
    assert len(steady.cursor.encode()) < 2048 and writes.take() == 0  # nothing changed: nothing rewritten
    assert len(slack_api.messages) == n

    fail_checks(instance, 1, passed=True)  # one table recovers: only its chunk is rewritten
    fixed = tick_sensor(defs, SENSOR_NAME, instance, steady.cursor)
    assert "resolved 1" in fixed.skip_message and 0 < writes.take() < 16 * 1024
    assert len(AlertLedger.load(instance, SENSOR_NAME, fixed.cursor).open) == n - 1

    fail_checks(instance, n, passed=True)  # all resolved: the store shrinks back, its keys stay bounded
    tick_sensor(defs, SENSOR_NAME, instance, fixed.cursor)
    stored = stored_rows(instance)
    assert len(stored) <= 32 + 32 + 4 and sum(len(v) for v in stored.values()) < 2048


def stored_rows(instance: dg.DagsterInstance) -> dict[str, str]:
    keys = {store_key(SENSOR_NAME, section, c) for section, count in CHUNKS.items() for c in range(count)}
    return dict(instance.daemon_cursor_storage.get_cursor_values(keys))


def _tick_in_child(instance_ref, n: int, slack_url: str) -> None:
    """A sensor tick in its own process (killed by the test, as a tick that never finished)."""
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        tick_sensor(definitions(n, slack_url), SENSOR_NAME, instance, None)


def test_a_tick_cut_off_after_some_sends_does_not_send_them_again(slack_api, instance):
    n, sent_before_cut = 8, 3
    fail_checks(instance, n)
    slack_api.stall_after(sent_before_cut)  # the 4th message waits, not accepted, until the cut
    child = multiprocessing.get_context("spawn").Process(target=_tick_in_child, args=(instance.get_ref(), n, slack_api.url))
    child.start()
    try:
        assert slack_api.stalled.wait(60), "the cut-off tick never reached its 4th message"
    finally:
        child.kill()  # the tick ends here: its cursor is never stored (as after Dagster's timeout)
        child.join(10)
        slack_api.release()
    assert len(slack_api.messages) == sent_before_cut

    # The next tick starts from the cursor stored before the cut-off one (none): it sends the rest.
    result = tick_sensor(definitions(n, slack_api.url), SENSOR_NAME, instance, None)
    texts = slack_api.texts()
    assert len(texts) == n and len(set(texts)) == n, texts  # each alert exactly once
    assert "raised 0" in result.skip_message and f"delivered {n - sent_before_cut}" in result.skip_message
    again = tick_sensor(definitions(n, slack_api.url), SENSOR_NAME, instance, result.cursor)
    assert "delivered 0" in again.skip_message and len(slack_api.messages) == n


def test_an_old_format_cursor_loads_and_moves_to_the_store(slack_api, instance):
    n = 5
    defs = definitions(n, slack_api.url)
    fail_checks(instance, n)
    # The state an earlier version kept in the cursor: open incidents, two alerts not yet delivered.
    slack_api.refuse()
    first = tick_sensor(defs, SENSOR_NAME, instance, None)
    slack_api.recover()
    current = AlertLedger.load(instance, SENSOR_NAME, first.cursor)
    assert len(current.open) == n and len(current.outbox) == n
    legacy = AlertLedger(
        open=current.open, outbox=current.outbox[:2], state={}, failures=1, next_attempt=0.0, dropped=3
    ).to_cursor()
    assert "open" in json.loads(legacy)
    with dg.instance_for_test() as fresh:  # an instance whose store holds nothing of this sensor
        fail_checks(fresh, n)
        migrated = tick_sensor(defs, SENSOR_NAME, fresh, legacy)
        assert "raised 0" in migrated.skip_message and "delivered 2" in migrated.skip_message
        assert "open" not in json.loads(migrated.cursor) and len(migrated.cursor) < 2048
        ledger = AlertLedger.load(fresh, SENSOR_NAME, migrated.cursor)
        assert set(ledger.open) == set(current.open) and ledger.outbox == [] and ledger.dropped == 3
        assert any(k.startswith(f"{PREFIX}/{SENSOR_NAME}/open/") for k in stored_rows(fresh))
        again = tick_sensor(defs, SENSOR_NAME, fresh, migrated.cursor)
        assert "raised 0" in again.skip_message and "delivered 0" in again.skip_message
    assert [t.split(":")[0] for t in slack_api.texts()] == ["ERROR", "ERROR"]


def test_a_dead_letter_is_reported_once_by_sensor_health(slack_api, instance):
    from ml_platform.health.sensor_health_alerts import build_sensor_health_sensor

    n = 3
    base = definitions(n, slack_api.url)
    health = build_sensor_health_sensor()
    defs = dg.Definitions(
        assets=list(base.assets), asset_checks=list(base.asset_checks), sensors=[data_quality_alerts, health], resources=dict(base.resources)
    )
    fail_checks(instance, n)
    slack_api.refuse_message("scores_001 2026-03-10: row_count_change", "msg_too_long", plain_text_too=True)
    cursor = None
    for _ in range(3):  # refused on three ticks: dead-lettered
        cursor = tick_sensor(defs, SENSOR_NAME, instance, cursor).cursor
    assert len(AlertLedger.load(instance, SENSOR_NAME, cursor).dead_letters) == 1

    before = len(slack_api.messages)
    health_cursor = None
    for _ in range(3):
        health_cursor = tick_sensor(defs, health.name, instance, health_cursor).cursor
    (report,) = [t for t in slack_api.texts()[before:] if "Freshness daemon" not in t]  # no daemon runs here
    assert report.startswith("ERROR: Slack refused an alert of data_quality_alerts for good: data_quality scores_001 2026-03-10")
