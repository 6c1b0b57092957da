"""Deadline SLOs: which materialization counts for a deadline, why a table is late, the alert sensors, the report."""
