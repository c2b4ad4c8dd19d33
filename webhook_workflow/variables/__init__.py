"""Trigger variables, paths and ``{{ }}`` templates."""
