"""The FaceSet: a versioned on-disk store of extracted faces, written atomically and resumable.

Layout of ``NAME.faceset/``::

    faceset.json            written last (atomic): format, version, config, sources, people, counts
    index.npy               (N, 2) int64: (shard number, row) of each kept face, in order
    embeddings.npy          (N, 128) float32: identity of each face (its track's mean embedding)
    people.npy              (N,) int64: person id of each face (clusters of tracks)
    journal/<media>.json    per input: next frame to process, finished?, shard names (resume)
    shards/<name>/          one committed chunk of faces (renamed into place when complete):
        crops.npy (n, S, S, 3) uint8    masks.npy (n, S, S) uint8 (soft face hull, 0-255)
        parts.npy (n, S, S) uint8 bitfield (see masks.PART_BITS)
        landmarks.npy (n, 478, 3) float32 frame px    crop_from_frame.npy (n, 2, 3) float32
        bbox.npy (n, 5) float32 (x0, y0, x1, y1, score)    quality.npy (n,) QUALITY_DTYPE
        frames.npy (n,) FRAME_DTYPE    samples.npy (n, 128) float32 (NaN where not embedded)

Shards are never rewritten, so re-running ``extract`` skips finished frames and re-running it with
another ``--identity`` only rewrites the small index files. Large arrays are memory-mapped.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import FaceSetError, OutputError, UsageError
from doppelab.core.storage import atomic_dir, atomic_path, atomic_write_text
from doppelab.core.types import BBox, Face, FrameRef, Quality

FORMAT = "doppelab.faceset"
VERSION = 1
EMBED_DIM = 128
QUALITY_FIELDS = ("blur", "size", "yaw", "pitch", "roll", "score", "eye_open")
QUALITY_DTYPE = np.dtype([(f, "<f4") for f in QUALITY_FIELDS])
FRAME_DTYPE = np.dtype([("media", "S16"), ("index", "<i8"), ("timestamp", "<f8"), ("track", "<i8")])
SHARD_ARRAYS = (
    "crops",
    "masks",
    "parts",
    "landmarks",
    "crop_from_frame",
    "bbox",
    "quality",
    "frames",
    "samples",
)


@dataclass(slots=True)
class ShardBuffer:
    """Faces collected in memory until :meth:`commit` writes them as one shard."""

    rows: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in SHARD_ARRAYS})

    def __len__(self) -> int:
        return len(self.rows["crops"])

    def add(
        self, face: Face, parts: npt.NDArray[np.uint8], sample: npt.NDArray[np.float32] | None
    ) -> None:
        assert face.crop is not None and face.mask is not None and face.quality is not None
        q, b, s = face.quality, face.bbox, face.source
        self.rows["crops"].append(face.crop)
        self.rows["masks"].append(np.round(face.mask * 255).astype(np.uint8))
        self.rows["parts"].append(parts)
        self.rows["landmarks"].append(face.landmarks.astype(np.float32))
        self.rows["crop_from_frame"].append(face.crop_from_frame.astype(np.float32))
        self.rows["bbox"].append((b.x0, b.y0, b.x1, b.y1, b.score))
        self.rows["quality"].append(tuple(getattr(q, f) for f in QUALITY_FIELDS))
        self.rows["frames"].append((s.media_id.encode(), s.index, s.timestamp, face.track_id))
        self.rows["samples"].append(
            np.full(EMBED_DIM, np.nan, np.float32) if sample is None else sample
        )

    def commit(self, root: Path, name: str) -> str:
        """Write the buffered faces as ``shards/<name>`` atomically and empty the buffer."""
        dtypes = {"bbox": np.float32, "quality": QUALITY_DTYPE, "frames": FRAME_DTYPE}
        with atomic_dir(root / "shards" / name) as tmp:
            for key in SHARD_ARRAYS:
                arr = np.array(self.rows[key], dtype=dtypes.get(key))  # type: ignore[call-overload]
                np.save(tmp / f"{key}.npy", arr)
        self.rows = {k: [] for k in SHARD_ARRAYS}
        return name


def new_shard_name(media: str) -> str:
    return f"{media}-{uuid.uuid4().hex[:8]}"


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FaceSetError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise FaceSetError(f"{path} is not a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def check_compatible(root: Path, config: dict[str, Any]) -> None:
    """Refuse to resume into a FaceSet made with other crop settings."""
    if root.exists() and not root.is_dir():
        raise OutputError(f"output {root} exists and is not a folder")
    meta_path = root / "faceset.json"
    if (
        root.is_dir()
        and any(root.iterdir())
        and not (meta_path.exists() or (root / "journal").is_dir())
    ):
        raise UsageError(f"output {root} exists and is not a FaceSet: choose a new path")
    if not meta_path.exists():
        return
    meta = read_json(meta_path)
    old = meta.get("config", {})
    for key in ("size", "coverage"):
        if old.get(key) != config.get(key):
            raise UsageError(
                f"{root} was made with {key}={old.get(key)}, not {config.get(key)}: "
                "use the same settings to resume, or another output path"
            )


def write_index(
    root: Path,
    index: npt.NDArray[np.int64],
    embeddings: npt.NDArray[np.float32],
    people: npt.NDArray[np.int64],
    meta: dict[str, Any],
) -> None:
    """Write the small index arrays, then ``faceset.json`` last (the commit point)."""
    for name, arr in (("index", index), ("embeddings", embeddings), ("people", people)):
        with atomic_path(root / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
    write_json(root / "faceset.json", {"format": FORMAT, "version": VERSION, **meta})


def remove_faceset(root: Path) -> None:
    """Delete a FaceSet folder this run created (used when nothing was found)."""
    shutil.rmtree(root, ignore_errors=True)


class FaceSet:
    """Read-only view of a finished FaceSet; big arrays stay memory-mapped.

    Example:
        >>> fs = FaceSet.open("me.faceset")            # doctest: +SKIP
        >>> batch = fs.batch(np.arange(16))            # doctest: +SKIP
        >>> batch["crops"].shape                       # doctest: +SKIP
        (16, 256, 256, 3)
    """

    def __init__(
        self,
        root: Path,
        meta: dict[str, Any],
        shards: list[dict[str, npt.NDArray[Any]]],
        index: npt.NDArray[np.int64],
        embeddings: npt.NDArray[np.float32],
        people: npt.NDArray[np.int64],
    ) -> None:
        self.root, self.meta, self._shards = root, meta, shards
        self.index, self.embeddings, self.people = index, embeddings, people
        small = ("landmarks", "crop_from_frame", "bbox", "quality", "frames")
        self._small = {k: self._gather(k, self.index) for k in small}

    @classmethod
    def open(cls, path: str | Path) -> FaceSet:
        """Open and validate a FaceSet; raises :class:`FaceSetError` when missing or broken."""
        root = Path(path)
        meta_path = root / "faceset.json"
        if not meta_path.is_file():
            why = (
                "unfinished (re-run extract to resume)"
                if (root / "journal").is_dir()
                else "not a FaceSet"
            )
            raise FaceSetError(f"{root}: {why}")
        meta = read_json(meta_path)
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise FaceSetError(
                f"{root}: unknown format/version {meta.get('format')}/{meta.get('version')}"
            )
        try:
            shards = [
                {
                    k: np.load(root / "shards" / name / f"{k}.npy", mmap_mode="r")
                    for k in SHARD_ARRAYS
                }
                for name in meta["shards"]
            ]
            index = np.load(root / "index.npy")
            embeddings = np.load(root / "embeddings.npy")
            people = np.load(root / "people.npy")
        except (OSError, ValueError, KeyError) as exc:
            raise FaceSetError(f"{root}: damaged ({exc})") from exc
        if not len(index) == len(embeddings) == len(people) == meta.get("faces"):
            raise FaceSetError(f"{root}: damaged (index and metadata disagree)")
        if len(index) and (
            index[:, 0].max() >= len(shards) or any(r >= len(shards[s]["crops"]) for s, r in index)
        ):
            raise FaceSetError(f"{root}: damaged (index points past a shard)")
        return cls(root, meta, shards, index, embeddings, people)

    def __len__(self) -> int:
        return len(self.index)

    def column(self, key: str) -> npt.NDArray[Any]:
        """A small per-face array for all faces: ``landmarks`` (N, 478, 3), ``crop_from_frame``
        (N, 2, 3), ``bbox`` (N, 5), ``quality`` and ``frames`` (records)."""
        if key not in self._small:
            raise KeyError(f"unknown column {key!r}; known: {sorted(self._small)}")
        return self._small[key]

    @property
    def size(self) -> int:
        return int(self.meta["config"]["size"])

    def _gather(self, key: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        if len(rows) == 0:
            proto = self._shards[0][key] if self._shards else np.zeros((0,))
            return np.zeros((0, *proto.shape[1:]), dtype=proto.dtype)
        proto = self._shards[int(rows[0, 0])][key]
        out = np.empty((len(rows), *proto.shape[1:]), dtype=proto.dtype)
        for shard in np.unique(rows[:, 0]):  # one fancy-indexed read per shard, not per row
            sel = rows[:, 0] == shard
            out[sel] = self._shards[int(shard)][key][rows[sel, 1]]
        return out

    def batch(self, indices: npt.ArrayLike) -> dict[str, npt.NDArray[Any]]:
        """Arrays of the faces at ``indices``: crops, masks (float32 0-1), parts, landmarks, ..."""
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.index[idx]
        out = {k: self._gather(k, rows) for k in ("crops", "masks", "parts")}
        out["masks"] = out["masks"].astype(np.float32) / 255.0
        for k, v in self._small.items():
            out[k] = v[idx]
        out["embeddings"], out["people"] = self.embeddings[idx], self.people[idx]
        return out

    def batches(
        self, batch_size: int, *, shuffle: bool = True, seed: int = 0
    ) -> Iterator[dict[str, npt.NDArray[Any]]]:
        """Endless stream of random batches for training (deterministic for a seed)."""
        if len(self) == 0:
            raise FaceSetError(f"{self.root}: no faces")
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(self)) if shuffle else np.arange(len(self))
            # full batches only (one short batch when the whole set is smaller than a batch)
            for start in range(0, max(len(order) - batch_size + 1, 1), batch_size):
                yield self.batch(np.sort(order[start : start + batch_size]))

    def face(self, i: int) -> Face:
        """The typed :class:`Face` at position ``i`` (crop and mask included)."""
        b = self.batch([i])
        fr, q, bb = b["frames"][0], b["quality"][0], b["bbox"][0]
        return Face(
            source=FrameRef(
                media_id=fr["media"].decode(),
                index=int(fr["index"]),
                timestamp=float(fr["timestamp"]),
            ),
            bbox=BBox(
                x0=float(bb[0]),
                y0=float(bb[1]),
                x1=float(bb[2]),
                y1=float(bb[3]),
                score=float(bb[4]),
            ),
            landmarks=b["landmarks"][0],
            crop_from_frame=b["crop_from_frame"][0],
            crop=b["crops"][0],
            mask=b["masks"][0],
            identity=b["embeddings"][0],
            quality=Quality(**{f: float(q[f]) for f in QUALITY_FIELDS}),
            track_id=int(fr["track"]),
            person_id=int(b["people"][0]),
        )
