"""Client for TikTok's Display API v2 (Login Kit): models, tokens, rate limiting and retries."""
