"""The DuckDB warehouse: table declarations with column descriptions, I/O (one transaction per partition, from Arrow), ad hours, quarantine tables, read-only snapshots."""
