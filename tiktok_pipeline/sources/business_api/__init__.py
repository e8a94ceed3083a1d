"""TikTok API for Business v1.3: client and envelope codes, reporting endpoints and answer models, Events API body."""
