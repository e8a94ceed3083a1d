"""TikTok API for Business (Marketing API v1.3): reporting and the Events API."""
