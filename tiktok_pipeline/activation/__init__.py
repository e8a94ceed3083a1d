"""Activation: what the signals are turned into (alerts to Slack and Teams, server-side conversions)."""
