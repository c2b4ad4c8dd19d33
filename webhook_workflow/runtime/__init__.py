"""Execution runtime: statuses, the processor (run loop) and the background dispatcher."""
