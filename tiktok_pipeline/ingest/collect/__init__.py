"""Collecting a window: which calls each source makes (no parsing, no warehouse)."""
