"""Alert modules not yet moved next to their concept. Each builds its sensor with
``alerting.sensor.alert_sensor``; the code location's list is ``assembly.ALERT_SENSORS``."""
