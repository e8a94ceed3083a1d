"""One package per external API, all over the one HTTP layer in ``sources/http``."""
