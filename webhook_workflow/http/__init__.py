"""Sans-IO HTTP layer: request checks, Basic auth, query strings, media types."""
