"""Workflow definitions: load, validate, compile."""
