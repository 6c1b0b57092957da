"""ml_platform: prediction tables as Dagster assets with SLOs, compute profiles and data-quality gates."""
