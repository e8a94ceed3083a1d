"""Ingestion, collect → land → parse, one landing path for every source; adaptive polling decides what to collect."""
