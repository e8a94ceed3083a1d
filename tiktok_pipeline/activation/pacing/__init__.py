"""Budget pacing: recommendations from the warehouse, the exactly-once budget change outbox, the digest section."""
