"""A new backend is one module: this one. Registered with its profile, the real routing executor sends
a step to it, and the step's attempt record carries the backend's own price from its price-sheet section."""

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
import pytest

from ml_platform.compute._dagster_step_api import DagsterEvent, EngineEventData, step_key_of
from ml_platform.compute.backends import BACKENDS
from ml_platform.compute.backends.base import Backend, SheetReader, StepPrice
from ml_platform.compute.backends.local import FORK, LocalProcessStepHandler
from ml_platform.compute.pricing import (
    COST_BASIS_KEY,
    COST_ESTIMATE_KEY,
    COST_KEY,
    COST_RATE_KEY,
    COST_SIZE_KEY,
    PRICE_SHEET_ENV,
)
from ml_platform.compute.profiles import PROFILES, ComputeProfile
from ml_platform.compute.routing_executor import routing_executor_def
from ml_platform.compute.step_metrics import with_step_metrics
from ml_platform.compute.step_usage import DURATION_KEY, OUTCOME_KEY, STARTUP_KEY, SUCCEEDED
from ml_platform.declaration import MODEL_IO_MANAGER_KEY, SLO, Model
from tests.compute.helpers import latest_attempt, step_failures, worker_messages
from tests.fixtures.price_sheets import TEST_PRICE_SHEET, write_price_sheet


@dataclass(frozen=True)
class RecordingOptions:
    queue: str = "default"  # a field only this backend reads


class RecordingStepHandler(LocalProcessStepHandler):
    """A local process, announced as the recording backend's launch."""

    def __init__(self, label: str):
        super().__init__(FORK)
        self._label = label

    @property
    def name(self) -> str:
        return "RecordingStepHandler"

    def launch_step(self, step_handler_context):
        step_key = step_key_of(step_handler_context)
        queue = PROFILES[step_handler_context.step_tags[step_key]["ml_platform/compute"]].options.queue
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            f"{self._label}: step {step_key} launched by the recording backend on queue {queue}", EngineEventData(),
        )
        yield from super().launch_step(step_handler_context)


class RecordingBackend(Backend):
    name, title = "recording", "Recording"
    options_type = RecordingOptions

    def sized_tags(self, profile, tags, capacity, env):
        return dict(tags)

    def describe_size(self, profile):
        return f"queue {profile.options.queue}"

    def parse_prices(self, sheet: SheetReader, section):
        return sheet.price(sheet.table(section, self.name).get("hour"), f"{self.name}.hour")

    def price(self, profile, prices, capacity):
        return StepPrice(prices, f"{profile.name}: one slot", f"recording: 1 slot × ${prices:g}/h")

    def config_field(self):
        return dg.Field({"label": dg.Field(str, default_value="recorder")}, is_required=False)

    def prepare(self, config):
        return lambda context: RecordingStepHandler(config.get("label", "recorder"))


RECORDING = RecordingBackend()
HOURLY = 720.0  # $0.2 per second


def recording_job() -> dg.JobDefinition:
    """Reconstructable: the forked step process calls it again (it inherits the registration)."""
    declared = Model(name="recorded_scores", product="compute_test", owner="team:platform",
                     slo=SLO("0 6 * * 1", window=timedelta(days=7)), compute="recording_small", retries=0)

    @dg.asset(**declared.asset_kwargs())
    def recorded_scores() -> list[int]:
        return [1, 2, 3]

    executor = routing_executor_def(BACKENDS).configured(
        {"real_backends": ["recording"], "recording": {"label": "rec-7"}, "check_step_health_interval_seconds": 1, "sleep_seconds": 0.1},
        name="test_routing",
    )
    defs = dg.Definitions(assets=with_step_metrics([recorded_scores]), resources={MODEL_IO_MANAGER_KEY: dg.FilesystemIOManager()},
                          jobs=[dg.define_asset_job("recording_job", selection=[recorded_scores])], executor=executor)
    return defs.resolve_job_def("recording_job")


@pytest.fixture
def registered(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, RECORDING.name, RECORDING)
    monkeypatch.setitem(PROFILES, "recording_small", ComputeProfile("recording_small", "recording", cpu="1", memory="1Gi",
                                                                    options=RecordingOptions(queue="batch")))
    monkeypatch.setenv(PRICE_SHEET_ENV, str(write_price_sheet(tmp_path, TEST_PRICE_SHEET + f"\n[recording]\nhour = {HOURLY}\n")))


def test_a_fourth_backend_in_one_module_gets_its_steps_and_prices_them(registered, tmp_path):
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        result = dg.execute_job(dg.reconstructable(recording_job), instance=instance)
        assert result.success, step_failures(instance, result.run_id)

        engine = [r.event_log_entry.dagster_event.message
                  for r in instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records]
        assert "rec-7: step recorded_scores launched by the recording backend on queue batch" in engine
        assert "in local process" in worker_messages(instance, result.run_id)["recorded_scores"]

        attempt = latest_attempt(instance, "recorded_scores")
        assert attempt[OUTCOME_KEY] == SUCCEEDED and attempt["run_id"] == result.run_id
        wall = attempt[DURATION_KEY] + attempt.get(STARTUP_KEY, 0.0)
        assert attempt[COST_RATE_KEY] == HOURLY and attempt[COST_KEY] == round(HOURLY * wall / 3600, 6)
        assert attempt[COST_SIZE_KEY] == "recording_small: one slot"
        assert attempt[COST_BASIS_KEY].startswith("recording: 1 slot × $720/h") and attempt[COST_ESTIMATE_KEY] is False


def test_a_backend_registered_nowhere_else_is_known_to_profiles_price_sheet_and_executor_config(registered):
    assert PROFILES["recording_small"].op_tags() == {"ml_platform/compute": "recording_small", "ml_platform/backend": "recording"}
    with pytest.raises(ValueError, match="field 'options': the recording backend takes RecordingOptions, got dict"):
        ComputeProfile("bad", "recording", cpu="1", memory="1Gi", options={"queue": "x"})
    schema = routing_executor_def(BACKENDS).config_schema.config_type
    assert "recording" in schema.fields
    with pytest.raises(dg.DagsterInvalidConfigError, match="unknown real_backends"):
        from ml_platform.compute.routing_executor import RoutingStepHandler

        RoutingStepHandler({}, frozenset({"recording", "nowhere"}))
