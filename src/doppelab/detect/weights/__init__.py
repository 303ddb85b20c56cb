"""Shipped detector weights and parameters (see MODEL_CARD.md)."""
