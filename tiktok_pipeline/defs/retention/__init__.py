"""Window retention: the job that deletes rolled-up days and its schedule."""
