"""Atomic, hash-checked checkpoints: a file is written to a temporary sibling, its SHA-256 is
recorded beside it, and a load recomputes the hash first, so a corrupted or half-written file is
never loaded silently (and a failed save, e.g. disk full, leaves the previous one intact)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from doppelab.core.errors import CheckpointError
from doppelab.core.storage import atomic_path, atomic_write_text


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(obj: dict[str, Any], path: Path) -> str:
    """Save ``obj`` with torch atomically; returns and records its SHA-256 (``path.sha256``)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    atomic_write_text(path.with_suffix(path.suffix + ".sha256"), digest + "\n")
    return digest


def load(path: Path, expected: str | None = None) -> dict[str, Any]:
    """Load a checkpoint after checking its hash (against ``expected`` or its sidecar)."""
    if not path.is_file():
        raise CheckpointError(f"missing checkpoint {path}")
    side = path.with_suffix(path.suffix + ".sha256")
    if expected is None:
        if not side.is_file():
            raise CheckpointError(f"{path} has no hash record ({side.name}); refusing to load it")
        expected = side.read_text().strip()
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"{path} is corrupted (SHA-256 {actual[:12]}..., expected "
            f"{expected[:12]}...); restore it or train again"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} is not a doppelab checkpoint")
    return obj
