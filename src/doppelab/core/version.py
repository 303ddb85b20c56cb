"""The package version, importable from every layer without importing the stages."""

__version__ = "0.1.0"
