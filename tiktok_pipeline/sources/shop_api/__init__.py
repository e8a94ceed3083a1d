"""TikTok Shop Partner API (202309): request signing, tokens, the client on the one HTTP layer, strict answer models."""
