"""Core: the typed data model, geometry, media I/O, errors and storage helpers shared by stages."""
