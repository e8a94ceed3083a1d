"""Server-side conversions to the Events API: order exports, PII hashing, the exactly-once outbox."""
