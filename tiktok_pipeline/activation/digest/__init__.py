"""The per-window digest to Slack/Teams: sections contributed by each activation domain, sent once per window."""
