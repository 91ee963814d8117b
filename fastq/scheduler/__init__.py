"""Periodic tasks (a scheduler that fires each tick once across a fleet) and group
aggregation. See docs/scheduling.md."""
