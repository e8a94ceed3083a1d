"""TikTok Shop (group ``shop``): orders polled every window (the authoritative record), pushes only make it faster."""
