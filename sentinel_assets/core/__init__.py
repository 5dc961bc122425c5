"""The pure core: query results, judging, lifecycle, routing, silences, durations, redaction and
what a notice says. Imports neither Dagster nor SQLAlchemy (a test checks it)."""
