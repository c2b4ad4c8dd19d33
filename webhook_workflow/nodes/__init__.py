"""Built-in node types, one module each, and the explicit registry."""
