"""Perceptual fingerprints (PDQ) and the local SQLite registry of everything doppelab generated.

Each generated image, or each keyframe of a generated video, is stored with three PDQ hashes: the
whole frame and its centre crops at 90 % and 80 % of each side, so a query that was cropped by
about 10-20 % still lands near one of them. A query is hashed whole, as its 90 % centre crop and
mirrored; the match distance is the smallest Hamming distance (of 256 bits) over all pairs.
PDQ's own guidance: <= 31 is a match for near-duplicates; :data:`MATCH_DISTANCE` uses that.
An image longer than :data:`HASH_SIDE` on an axis is reduced to it (INTER_AREA) once before
hashing and cropping: PDQ boils every image down to 64 x 64, and on 8000 x 8000 the three
full-size hashes took 17.6 s and 1.2 GB; the reduced ones differ from them by a few bits
(bench/verify_large.py).

Registry location: an explicit path, else ``$DOPPELAB_REGISTRY``, else
``$DOPPELAB_HOME/registry.sqlite``, else ``<platformdirs user data dir>/doppelab/registry.sqlite``.
Every write is one SQLite transaction (atomic).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pdqhash
import platformdirs

from doppelab.core.errors import OutputError
from doppelab.core.types import ImageU8

MATCH_DISTANCE = 31
CROPS = (1.0, 0.9, 0.8)
HASH_SIDE = 1024  # longer axes are reduced to this before hashing (16x PDQ's 64 x 64)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    payload_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    output_name TEXT NOT NULL,
    created TEXT NOT NULL,
    method TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    frames INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hashes (
    payload_id INTEGER NOT NULL REFERENCES items(payload_id),
    frame_index INTEGER NOT NULL,
    crop REAL NOT NULL,
    pdq BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS hashes_payload ON hashes(payload_id);
"""

Hash = npt.NDArray[np.uint8]  # (32,) packed bits


def default_registry_path() -> Path:
    """Where the registry lives unless a caller names a file (see the module docstring)."""
    env = os.environ.get("DOPPELAB_REGISTRY", "").strip()
    if env:
        return Path(env).expanduser()
    home = os.environ.get("DOPPELAB_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "registry.sqlite"
    return Path(platformdirs.user_data_dir("doppelab")) / "registry.sqlite"


def _centre(image: ImageU8, frac: float) -> ImageU8:
    if frac >= 1.0:
        return image
    h, w = image.shape[:2]
    ch, cw = max(1, round(h * frac)), max(1, round(w * frac))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(image[y0:y0 + ch, x0:x0 + cw])


def _reduced(image: ImageU8) -> ImageU8:
    """``image`` itself up to :data:`HASH_SIDE` px a side, else each longer axis reduced to it."""
    h, w = image.shape[:2]
    if max(h, w) <= HASH_SIDE:
        return image
    size = (min(w, HASH_SIDE), min(h, HASH_SIDE))
    small = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.uint8)


def pdq(image: ImageU8) -> Hash:
    """PDQ hash of an RGB image as 32 packed bytes (of its :func:`_reduced` copy when large)."""
    bits, _quality = pdqhash.compute(np.ascontiguousarray(_reduced(image)))
    return np.packbits(bits.astype(np.uint8))


def fingerprints(image: ImageU8) -> list[tuple[float, Hash]]:
    """What the registry stores for one frame: (crop fraction, hash) for :data:`CROPS`."""
    small = _reduced(image)
    return [(frac, pdq(_centre(small, frac))) for frac in CROPS]


def query_hashes(image: ImageU8) -> list[Hash]:
    """What a lookup compares: the whole frame, its 90 % centre crop and its mirror image."""
    small = _reduced(image)
    return [pdq(small), pdq(_centre(small, 0.9)), pdq(np.ascontiguousarray(small[:, ::-1]))]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryEntry:
    """One generated output as recorded at labelling time."""

    payload_id: int
    kind: str
    output_name: str
    created: str
    method: str
    model_hash: str
    manifest_digest: str
    frames: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryMatch:
    """Nearest registry entry to a query and its PDQ Hamming distance (0-256)."""

    entry: RegistryEntry
    distance: int


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


class Registry:
    """The local fingerprint registry (one SQLite file). Cheap to open; no global state."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_registry_path()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"cannot open the registry {self.path}: {exc}") from exc
        with closing(conn):
            conn.executescript(_SCHEMA)
            yield conn

    def has(self, payload_id: int) -> bool:
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM items WHERE payload_id = ?", (payload_id,))
            return row.fetchone() is not None

    def add(self, entry: RegistryEntry, frame_hashes: Sequence[tuple[int, float, Hash]]) -> None:
        """Record an output and its (frame index, crop, hash) rows in one transaction."""
        try:
            with self._connect() as conn, conn:
                conn.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
                    entry.payload_id, entry.kind, entry.output_name, entry.created, entry.method,
                    entry.model_hash, entry.manifest_digest, entry.frames))
                conn.executemany("INSERT INTO hashes VALUES (?, ?, ?, ?)", [
                    (entry.payload_id, idx, crop, h.tobytes()) for idx, crop, h in frame_hashes])
        except sqlite3.Error as exc:
            raise OutputError(f"cannot write to the registry {self.path}: {exc}") from exc

    def get(self, payload_id: int) -> RegistryEntry | None:
        if not self.path.exists():
            return None
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM items WHERE payload_id = ?",
                               (payload_id,)).fetchone()
        return RegistryEntry(**dict(zip(_FIELDS, row, strict=True))) if row else None

    def nearest(self, queries: Sequence[Hash]) -> RegistryMatch | None:
        """The entry whose stored hashes come closest to any query hash, or None if empty."""
        if not self.path.exists() or not queries:
            return None
        with self._connect() as conn:
            rows = conn.execute("SELECT payload_id, pdq FROM hashes").fetchall()
        if not rows:
            return None
        ids = np.array([r[0] for r in rows], np.int64)
        stored = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(len(rows), 32)
        q = np.stack(queries)
        dist = _POPCOUNT[stored[:, None, :] ^ q[None, :, :]].sum(axis=2, dtype=np.int64)
        row, _ = np.unravel_index(int(np.argmin(dist)), dist.shape)
        entry = self.get(int(ids[row]))
        return RegistryMatch(entry=entry, distance=int(dist.min())) if entry else None


_FIELDS = ("payload_id", "kind", "output_name", "created", "method", "model_hash",
           "manifest_digest", "frames")


def now_iso() -> str:
    """UTC time in ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
