"""Adaptive polling: which videos are due in a window, under a request budget, with backoff."""
