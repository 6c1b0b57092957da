"""Prediction monitoring: drift, coverage and delayed-label performance of prediction tables.

Pure functions over DataFrames / arrays; the Dagster wiring (checks, observations, report)
builds on them so they can be run over many generated days without a run per day.
"""
