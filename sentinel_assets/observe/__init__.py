"""Sentinel watching itself: healthcheck, history, metrics, exporter, Pushgateway, JSON logs,
findings (crashed runs, missed evaluations) and the run scanner they share."""
