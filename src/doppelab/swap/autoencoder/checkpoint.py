"""Atomic, self-verifying checkpoints.

A file is ``MAGIC`` + the SHA-256 (hex) of the payload + a newline + the torch-serialised
payload, written to a temporary sibling and renamed into place in one step. So the hash always
travels with the bytes it describes: a process killed at any moment leaves either the previous
complete file or the new one, a failed save (disk full) leaves the previous one, and a corrupted
file is refused by its hash instead of being loaded.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from doppelab.core.errors import CheckpointError
from doppelab.core.storage import atomic_path

MAGIC = b"DOPPELAB-CKPT-1\n"
_HEADER = len(MAGIC) + 64 + 1


def save(obj: dict[str, Any], path: Path) -> str:
    """Save ``obj`` atomically with its SHA-256 inside; returns the hex digest of the payload."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with atomic_path(path) as tmp:
        tmp.write_bytes(MAGIC + digest.encode() + b"\n" + payload)
    return digest


def digest_of(path: Path) -> str:
    """The SHA-256 recorded in a checkpoint's header (not re-verified)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEADER)
    if not head.startswith(MAGIC) or len(head) < _HEADER:
        raise CheckpointError(f"{path} is not a doppelab checkpoint")
    return head[len(MAGIC) : len(MAGIC) + 64].decode("ascii", "replace")


def load(path: Path, expected: str | None = None) -> dict[str, Any]:
    """Load a checkpoint after checking the payload against its recorded hash (and against
    ``expected`` when given)."""
    if not path.is_file():
        raise CheckpointError(f"missing checkpoint {path}")
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < _HEADER:
        raise CheckpointError(f"{path} is not a doppelab checkpoint (or is truncated)")
    recorded = data[len(MAGIC) : len(MAGIC) + 64].decode("ascii", "replace")
    actual = hashlib.sha256(data[_HEADER:]).hexdigest()
    if actual != recorded or (expected is not None and actual != expected):
        raise CheckpointError(
            f"{path} is corrupted (SHA-256 {actual[:12]}..., expected "
            f"{(expected or recorded)[:12]}...); restore it or train again"
        )
    try:
        obj = torch.load(io.BytesIO(data[_HEADER:]), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} is not a doppelab checkpoint")
    return obj
