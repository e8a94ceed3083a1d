"""Adaptive polling (pure): policy, window plan, polling state, the sensor's tick, failed windows, when the ads run."""
