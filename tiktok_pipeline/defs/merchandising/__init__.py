"""The merchandising feed (group ``activation``): ``merchandising_feed`` per window, its files and webhook."""
