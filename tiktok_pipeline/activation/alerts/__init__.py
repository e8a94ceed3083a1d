"""Alerts: what calls for one, its model, Slack/Teams rendering, delivery with retries, the alerts table."""
