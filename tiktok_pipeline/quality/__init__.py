"""Data quality: Pandera schemas for the window tables and the anomaly checks, as pure functions."""
