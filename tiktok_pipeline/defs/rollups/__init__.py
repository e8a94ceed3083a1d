"""Daily rollups of the window tables (declarative automation) and their job."""
