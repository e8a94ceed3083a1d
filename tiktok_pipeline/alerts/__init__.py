"""Alerts: what they say, how they look in Slack and Teams, and how they are delivered."""
