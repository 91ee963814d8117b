"""Fleet-wide flow control: concurrency caps and rate limits (see docs/flow-control.md)."""
