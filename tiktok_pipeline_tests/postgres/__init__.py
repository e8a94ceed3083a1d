"""Tests against a real PostgreSQL: the production instance of deploy/dagster.yaml."""
