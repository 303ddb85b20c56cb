"""Training data for the detectors: FaceSets of the shared data set's real clips and photos.

The shared data set (``DATA/clips.csv``, ``DATA/photos.csv``) has a ``split`` column: ``train``
items may be trained on, ``dev`` items are only measured on. Inside ``train`` a fixed part of the
identities is held out (:func:`is_holdout`) for calibration and fusion, so ``dev`` stays untouched.

Every detector sees faces aligned with :data:`CROP` (the extraction template at 256 px with the
mesh spanning 65% of the crop, which leaves background around the face for the blend boundary).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.media import media_id
from doppelab.core.types import Affine, ImageU8, Landmarks
from doppelab.extract.align import AlignConfig, align
from doppelab.extract.faceset import FaceSet
from doppelab.extract.pipeline import ExtractConfig, extract

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations only (requires-python >= 3.10)

_T = TypeVar("_T")

CROP = AlignConfig(size=256, coverage=0.65)
NET_SIZE = 128  # the learned model's input side (the crop resized by 1/2)
HOLDOUT_EVERY = 6  # 1 identity in HOLDOUT_EVERY of train is held out for calibration


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One real clip or photo of the shared data set."""

    path: Path
    identity: str
    split: str
    kind: str  # "clip" or "photo"
    source: str


def is_holdout(identity: str) -> bool:
    """Stable choice of the train identities kept for calibration (by hash of the name)."""
    h = int(hashlib.sha1(identity.encode()).hexdigest()[:8], 16)
    return h % HOLDOUT_EVERY == 0


def list_items(data_dir: str | Path, split: str | None = None) -> list[Item]:
    """Clips and photos of ``data_dir`` (optionally one split), sorted by path."""
    root = Path(data_dir)
    out: list[Item] = []
    for table, kind in (("clips.csv", "clip"), ("photos.csv", "photo")):
        path = root / table
        if not path.is_file():
            raise UsageError(f"no {table} in {root}: is it the shared data folder?")
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                ident = row["identity"] if row["identity"] != "group" else row["file"]
                out.append(
                    Item(
                        path=root / row["file"],
                        identity=ident,
                        split=row["split"],
                        kind=kind,
                        source=row["file"].split("/")[-1].split("_")[0],
                    )
                )
    if split is not None:
        out = [i for i in out if i.split == split]
    return sorted(out, key=lambda i: str(i.path))


def build_facesets(
    data_dir: str | Path, out_dir: str | Path, *, every: int = 3, dev_every: int = 4
) -> dict[str, Path]:
    """Extract FaceSets ``{train,dev}_{clips,photos}.faceset`` under ``out_dir`` (resumable)."""
    out = Path(out_dir)
    made: dict[str, Path] = {}
    for split, step in (("train", every), ("dev", dev_every)):
        items = list_items(data_dir, split)
        for kind in ("clip", "photo"):
            paths = [i.path for i in items if i.kind == kind]
            cfg = ExtractConfig(
                size=CROP.size,
                coverage=CROP.coverage,
                every=step if kind == "clip" else 1,
                max_faces=2 if kind == "clip" else 8,
                min_face=40.0,
                embed_every=10,
            )
            target = out / f"{split}_{kind}s.faceset"
            extract(paths, target, cfg)
            made[f"{split}_{kind}s"] = target
    return made


def media_map(data_dir: str | Path) -> dict[bytes, Item]:
    """FaceSet media id (bytes, as in the ``frames`` column) -> the data set item."""
    return {media_id(i.path).encode(): i for i in list_items(data_dir)}


def face_items(fs: FaceSet, data_dir: str | Path) -> list[Item]:
    """The data set item of every face of ``fs`` (in order)."""
    mm = media_map(data_dir)
    media = fs.column("frames")["media"]
    return [mm[m] for m in media]


class Rows:
    """Base of the training tables (dataclasses of arrays with one row per face): ``len`` and a
    row ``subset`` of every field."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]
    crops: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, keep: npt.NDArray[np.bool_]) -> Self:
        return type(self)(**{k: getattr(self, k)[keep] for k in self.__dataclass_fields__})


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceTable(Rows):
    """Real faces ready for training at the network size (everything in memory).

    Shape: ``crops`` (N, 128, 128, 3) uint8; ``landmarks`` (N, 478, 2) float32 in those crops'
    pixels; ``identity``/``source``/``media`` (N,) str; ``holdout`` (N,) bool; ``dev`` (N,) bool.
    """

    crops: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]
    identity: npt.NDArray[np.str_]
    source: npt.NDArray[np.str_]
    media: npt.NDArray[np.str_]
    holdout: npt.NDArray[np.bool_]
    dev: npt.NDArray[np.bool_]


def to_net(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Aligned :data:`CROP` crops ``(N, 256, 256, 3)`` -> network crops ``(N, 128, 128, 3)``."""
    import cv2

    return (
        np.stack([cv2.resize(c, (NET_SIZE, NET_SIZE), interpolation=cv2.INTER_AREA) for c in crops])
        if len(crops)
        else np.zeros((0, NET_SIZE, NET_SIZE, 3), np.uint8)
    )


def crop_to_net(points_crop: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Points in :data:`CROP` px ``(..., 2 or 3)`` -> network-crop px ``(..., 2)``."""
    scale = NET_SIZE / CROP.size
    # pixel-centre convention: x_small = (x + 0.5) * scale - 0.5
    return np.asarray((points_crop[..., :2] + 0.5) * scale - 0.5, np.float32)


def net_landmarks(
    landmarks_frame: npt.NDArray[np.float32], crop_from_frame: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Frame-px landmarks ``(N, 478, 3)`` -> network-crop px ``(N, 478, 2)``."""
    from doppelab.core.geometry import transform_points

    crop_px = [
        transform_points(m, lm) for lm, m in zip(landmarks_frame, crop_from_frame, strict=True)
    ]
    return crop_to_net(np.stack(crop_px))


def align_face(image: ImageU8, landmarks: Landmarks) -> tuple[ImageU8, Affine, Landmarks]:
    """A face aligned as every detector sees it (:data:`CROP`): the ``(256, 256, 3)`` crop, its
    ``crop_from_frame`` and the landmarks in crop px (:func:`doppelab.extract.align.align`)."""
    return align(image, landmarks, CROP)


def net_face(
    image: ImageU8, landmarks: Landmarks
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """The face of frame-px ``landmarks`` ``(478, 3)`` at network size, as ``detect`` scores it:
    the crop ``(128, 128, 3)`` and its landmarks ``(478, 2)`` in network-crop px."""
    crop, _, landmarks_crop = align_face(image, landmarks)
    return to_net(crop[None])[0], crop_to_net(landmarks_crop)


def load_table(facesets: list[str | Path], data_dir: str | Path, chunk: int = 256) -> FaceTable:
    """Read FaceSets of the shared data set into a :class:`FaceTable`."""
    parts: dict[str, list[npt.NDArray]] = {k: [] for k in FaceTable.__dataclass_fields__}  # type: ignore[type-arg]
    for path in facesets:
        fs = FaceSet.open(path)
        items = face_items(fs, data_dir)
        for start in range(0, len(fs), chunk):
            b = fs.batch(np.arange(start, min(start + chunk, len(fs))))
            parts["crops"].append(to_net(b["crops"]))
            parts["landmarks"].append(net_landmarks(b["landmarks"], b["crop_from_frame"]))
        parts["identity"].append(np.array([i.identity for i in items], dtype=str))
        parts["source"].append(np.array([i.source for i in items], dtype=str))
        parts["media"].append(np.array([i.path.name for i in items], dtype=str))
        parts["holdout"].append(np.array([is_holdout(i.identity) for i in items], dtype=bool))
        parts["dev"].append(np.array([i.split == "dev" for i in items], dtype=bool))
    return FaceTable(**{k: np.concatenate(v) for k, v in parts.items()})


def save_arrays(table: Any, path: str | Path) -> None:
    """Write a dataclass of arrays (a :class:`FaceTable`, a swap table) as one ``.npz``, atomically.

    Each field is stored under its own name; :func:`read_arrays` reads it back.
    """
    from doppelab.core.storage import atomic_write_npz

    atomic_write_npz(path, **{f.name: getattr(table, f.name) for f in fields(table)})


def read_arrays(cls: type[_T], path: str | Path) -> _T:
    """The ``cls`` dataclass that :func:`save_arrays` wrote to ``path``."""
    with np.load(path) as z:
        return cls(**{f.name: z[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def save_table(table: FaceTable, path: str | Path) -> None:
    save_arrays(table, path)


def read_table(path: str | Path) -> FaceTable:
    return read_arrays(FaceTable, path)
