"""Shipped audio-visual sync network (see MODEL_CARD.md)."""
