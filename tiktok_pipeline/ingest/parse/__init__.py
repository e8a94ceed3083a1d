"""Parsing landed answers into rows; a bad record is quarantined with its payload and reason, the rest goes on."""
