"""The shared clips as sync training/measuring material: listing and cached face tracks.

Face tracks are the slow part (FaceMesh on every frame), and a re-timed audio track leaves the
video stream untouched, so tracks are cached per clip as ``.npz`` under a cache folder, keyed by
the clip's file name, size and modification time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from doppelab.core.errors import UsageError
from doppelab.core.media import media_id
from doppelab.core.storage import atomic_write_npz
from doppelab.detect.avsync.streams import FaceTrack, read_face_track


@dataclass(frozen=True, slots=True, kw_only=True)
class Clip:
    """One row of ``clips.csv`` that has an audio track."""

    path: Path
    name: str
    split: str
    fps: float


def list_clips(data_dir: Path, split: str | None = None) -> list[Clip]:
    """Clips with audio from ``data_dir/clips.csv`` (optionally one split), by name."""
    table = data_dir / "clips.csv"
    if not table.is_file():
        raise UsageError(f"no clips.csv in the data folder: {data_dir}")
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    clips = [Clip(path=data_dir / r["file"], name=Path(r["file"]).stem, split=r["split"],
                  fps=float(r["fps"]))
             for r in rows if r.get("audio") == "yes" and (split is None or r["split"] == split)]
    return sorted(clips, key=lambda c: c.name)


def default_cache() -> Path:
    """Where face tracks are cached unless told otherwise: the user's cache dir."""
    return Path(platformdirs.user_cache_dir("doppelab")) / "avsync"


def _key(path: Path) -> str:
    return f"{path.stem}-{media_id(path)}"


def cached_face_track(path: Path, cache_dir: Path) -> FaceTrack:
    """:func:`read_face_track` of ``path``, computed once and kept in ``cache_dir``."""
    file = cache_dir / f"{_key(path)}.npz"
    if file.is_file():
        with np.load(file) as z:
            return FaceTrack(points=z["points"], times=z["times"], fps=float(z["fps"]))
    track = read_face_track(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_npz(file, points=track.points, times=track.times, fps=np.float64(track.fps))
    return track
