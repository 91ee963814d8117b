"""Tiny apps and entry points the supervisor tests run as real subprocesses."""
