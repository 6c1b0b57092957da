"""The production model store (GCSPickleIOManager) through google-cloud-storage and a local GCS emulator."""

import pickle

import dagster as dg
import pytest
from gcp_storage_emulator.server import create_server
from google.cloud import storage

from ml_platform.declaration import MODEL_IO_MANAGER_KEY
from ml_platform.resources.warehouse import warehouse_resources

BUCKET = "ml-platform-models"


@pytest.fixture
def gcs(monkeypatch):
    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        # The client's own emulator switch: endpoint override plus anonymous credentials, no network.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server._api._httpd.server_port}")
        monkeypatch.setenv("ML_PLATFORM_GCP_PROJECT", "ml-platform-test")
        monkeypatch.setenv("ML_PLATFORM_MODEL_BUCKET", BUCKET)
        yield storage.Client()
    finally:
        server.stop()


def model_assets(weights: list[float]):
    @dg.asset(io_manager_key=MODEL_IO_MANAGER_KEY)
    def ranker() -> dict:
        return {"weights": weights}

    @dg.asset(io_manager_key=MODEL_IO_MANAGER_KEY)
    def ranker_report(ranker: dict) -> dict:
        return {"n_weights": len(ranker["weights"])}

    return [ranker, ranker_report]


def run(weights: list[float], **kwargs) -> dg.ExecuteInProcessResult:
    resources = {MODEL_IO_MANAGER_KEY: warehouse_resources("production")[MODEL_IO_MANAGER_KEY]}
    return dg.materialize(model_assets(weights), resources=resources, **kwargs)


def stored(client: storage.Client, name: str):
    return pickle.loads(client.bucket(BUCKET).blob(f"ml_platform/models/{name}").download_as_bytes())


def test_model_is_written_to_gcs_and_read_back_by_its_consumer(gcs):
    assert run([0.1, 0.2]).success
    assert stored(gcs, "ranker") == {"weights": [0.1, 0.2]}
    assert stored(gcs, "ranker_report") == {"n_weights": 2}


def test_retraining_replaces_the_model(gcs):
    assert run([0.1, 0.2]).success and run([0.3, 0.4, 0.5]).success
    assert stored(gcs, "ranker") == {"weights": [0.3, 0.4, 0.5]}
    assert stored(gcs, "ranker_report") == {"n_weights": 3}


def test_missing_bucket_fails_the_training_step_and_skips_consumers(gcs, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_MODEL_BUCKET", "no-such-bucket")
    result = run([0.1], raise_on_error=False)
    assert [event.step_key for event in result.get_step_failure_events()] == ["ranker"]
    # dagster-gcp checks the bucket with a bare invariant: the error names neither bucket nor fix.
    assert "Invariant failed" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert list(gcs.list_blobs(BUCKET)) == []
