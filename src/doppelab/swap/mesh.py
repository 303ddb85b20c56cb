"""The training-free ``mesh`` method: the source face's texture, warped triangle by triangle onto
the target's 478-point mesh in every frame.

The destination mesh keeps the target's pose and expression but takes the source's face shape:
``dst = target + shape * (source - neutral(target))`` where ``neutral(target)`` is the running
mean of the target track's aligned landmarks (its identity shape; expressions average out), so
the face gets the source's proportions and still opens its mouth and blinks with the target.
The target's inner mouth is kept (the source texture there is a closed mouth).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import NoFaceError, UsageError
from doppelab.core.geometry import transform_points
from doppelab.core.media import check_name
from doppelab.core.types import Embedding, ImageU8, Landmarks
from doppelab.extract.align import AlignConfig, align
from doppelab.extract.faceset import FaceSet
from doppelab.extract.identity import IdentityEmbedder
from doppelab.extract.masks import face_mask, part_mask, parts_map
from doppelab.extract.pipeline import single_face
from doppelab.swap.methods import SwapOutput, TargetFace, register
from doppelab.swap.warp import warp_mesh

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshSource:
    """The source face: aligned crop, its landmarks (crop px) and identity."""

    crop: ImageU8
    landmarks: Landmarks
    identity: Embedding
    digest: str


def source_from_image(path: Path, align_cfg: AlignConfig) -> MeshSource:
    """The one face of a source photo."""
    image, face = single_face(path, "source")
    crop, _, lm = align(image, face.landmarks, align_cfg)
    identity = IdentityEmbedder().embed(image, face.landmarks)
    return MeshSource(
        crop=crop,
        landmarks=lm,
        identity=identity,
        digest=hashlib.sha256(crop.tobytes()).hexdigest(),
    )


def _best_face(fs: FaceSet) -> int:
    """Index of the most frontal, sharp, open-eyed, closed-mouth face of the main person."""
    q = fs.column("quality")
    people, counts = np.unique(fs.people, return_counts=True)
    main = fs.people == people[np.argmax(counts)]
    blur = np.log1p(np.maximum(q["blur"], 0))
    score = -(np.abs(q["yaw"]) + np.abs(q["pitch"])) / 10 + blur - 20 * np.abs(q["eye_open"] - 0.3)
    return int(np.argmax(np.where(main, score, -np.inf)))


def source_from_faceset(path: Path, align_cfg: AlignConfig) -> MeshSource:
    """The best face of a FaceSet's main person, re-aligned to ``align_cfg`` from its crop."""
    fs = FaceSet.open(path)
    if len(fs) == 0:
        raise NoFaceError(f"{path} has no faces")
    face = fs.face(_best_face(fs))
    assert face.crop is not None and face.identity is not None
    # the FaceSet crop is itself an aligned image: align it again to this method's template
    lm_crop = transform_points(face.crop_from_frame, face.landmarks)
    crop, _, lm = align(face.crop, lm_crop, align_cfg)
    return MeshSource(
        crop=crop,
        landmarks=lm,
        identity=face.identity,
        digest=hashlib.sha256(crop.tobytes()).hexdigest(),
    )


def warp_face(
    source: ImageU8,
    source_lm: Landmarks,
    dst: F32,
    target_lm: Landmarks,
    size: int,
    mouth_feather_px: float = 1.5,
) -> tuple[ImageU8, F32]:
    """``source``'s face warped onto the mesh ``dst`` and where it may be pasted: inside the
    hull of ``dst`` and the warp's coverage, minus the target's own inner mouth (from
    ``target_lm``, so the target keeps its teeth and tongue). Shapes: (size, size, 3) uint8 and
    (size, size) float32 in [0, 1]."""
    warped, covered = warp_mesh(source, source_lm, dst, size)
    hull = face_mask(dst, size, feather=0.0)
    mouth = part_mask(parts_map(target_lm, size), ("inner_mouth",), feather_px=mouth_feather_px)
    return warped, np.clip(np.minimum(hull, covered) - mouth, 0.0, 1.0).astype(np.float32)


@register("mesh")
@dataclass(slots=True)
class MeshMethod:
    """Training-free mesh warp. ``shape`` 0-1: how much of the source's face shape to take."""

    source: Path
    crop_size: int = 256
    coverage: float = 0.75
    shape: float = 0.8
    name: str = "mesh"
    target_identity: Embedding | None = None
    _src: MeshSource | None = field(default=None, init=False)
    _neutral: dict[int, tuple[F32, int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.shape <= 1.0:
            raise UsageError(f"shape transfer must be 0-1, got {self.shape}")
        cfg = AlignConfig(size=self.crop_size, coverage=self.coverage)
        src = Path(self.source)
        check_name(src)
        load = source_from_faceset if src.is_dir() else source_from_image
        self._src = load(src, cfg)

    @property
    def source_identity(self) -> Embedding | None:
        return None if self._src is None else self._src.identity

    @property
    def model_hash(self) -> str:
        assert self._src is not None
        return f"sha256:{self._src.digest}"

    def _neutral_shape(self, face: TargetFace) -> F32:
        mean, n = self._neutral.get(face.track_id, (face.landmarks[:, :2].copy(), 0))
        n = min(n + 1, 250)  # running mean over about the last 10 s
        mean = mean + (face.landmarks[:, :2] - mean) / n
        self._neutral[face.track_id] = (mean, n)
        return mean

    def swap(self, face: TargetFace) -> SwapOutput:
        assert self._src is not None
        size = self.crop_size
        src = self._src
        dst = face.landmarks[:, :2] + self.shape * (
            src.landmarks[:, :2] - self._neutral_shape(face)
        )
        warped, mask = warp_face(src.crop, src.landmarks, dst.astype(np.float32),
                                 face.landmarks, size)
        return SwapOutput(crop=warped, mask=mask)
