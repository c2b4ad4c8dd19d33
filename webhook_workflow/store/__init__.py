"""Execution stores: the Store protocol and its implementations."""
