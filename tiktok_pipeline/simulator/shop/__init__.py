"""The TikTok Shop Partner API (202309 paths), as the simulator serves it: orders, products, shops, tokens, pushes."""
