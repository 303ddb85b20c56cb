"""HTTP service: request -> config -> library call (no business logic here)."""
