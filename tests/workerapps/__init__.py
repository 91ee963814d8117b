"""Small apps and helpers for the worker engine tests (imported by subprocesses too)."""
