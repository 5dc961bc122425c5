"""Evaluation, Dagster-free: query, judge, lifecycle, claim and deliver, for one alert or many."""
