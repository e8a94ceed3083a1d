"""Adaptive polling (pure): policy, window plan, polling state, the sensor's tick, when the ads run."""
