"""Cost alerts: a table whose daily cost jumps (``alerts``)."""
