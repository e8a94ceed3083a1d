"""Conversions: the ``conversion_outbox`` asset, its job and the exports sensor."""
