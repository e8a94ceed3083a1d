"""Conversions from the shop's own system, sent to TikTok's Events API exactly once through an outbox."""
