"""The window pipeline: raw snapshots, enriched metrics and velocity, their checks, job and polling sensor."""
