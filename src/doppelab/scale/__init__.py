"""Batch runs over many files on a distributed engine (Ray)."""
