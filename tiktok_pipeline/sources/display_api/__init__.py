"""TikTok Display API v2: client, answer models (the strict boundary), OAuth tokens."""
