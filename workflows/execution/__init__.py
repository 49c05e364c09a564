"""Execution follow-up: hours records, outcomes, progress."""
