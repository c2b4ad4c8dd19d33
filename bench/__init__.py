"""Benchmarks of webhook_workflow (run with ``python -m bench``)."""
