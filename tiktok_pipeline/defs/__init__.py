"""Dagster definitions: resources, assets, jobs and schedules, one module each."""
