"""TikTok Shop: the client, the polling assets and the push receiver over real HTTP against the served simulator."""
