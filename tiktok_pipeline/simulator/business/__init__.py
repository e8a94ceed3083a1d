"""The simulator's API for Business: reporting and Events API endpoints on the same server."""
