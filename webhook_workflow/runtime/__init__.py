"""Execution runtime: the processor (run loop), its drivers, the catalog and the dispatcher."""
