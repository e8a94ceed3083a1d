"""Ads: ``raw_ad_metrics`` (API for Business reporting) and ``ad_velocity``, their job and sensor."""
