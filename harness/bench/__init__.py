"""The self-benchmark (``python -m harness.bench``): the harness against a bare loop, whole runs,
speed defaults, forecasts. Nothing else imports it."""
