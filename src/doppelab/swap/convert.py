"""Conversion: swap faces in an image or a video and write the result, always labelled.

For each frame: track the faces, keep those of the chosen person (identity embedding match),
smooth their landmarks over time, align, let the method swap the aligned crop, post-process
(colour transfer, grain, sharpening, mask erosion and feathering, alpha or Poisson blending) and
paste back with the exact inverse of the crop's matrix. The output goes through
:mod:`doppelab.provenance` (watermark, signed C2PA manifest, registry), the only writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from doppelab.core.concurrency import prefetch
from doppelab.core.errors import NoFaceError, UsageError
from doppelab.core.geometry import paste_back, transform_points, warp_to_crop
from doppelab.core.media import check_readable, iter_frames, probe
from doppelab.core.types import Embedding, Frame, ImageU8
from doppelab.extract.align import AlignConfig, crop_from_landmarks
from doppelab.extract.identity import SAME_PERSON, IdentityEmbedder
from doppelab.extract.landmarks import FaceTracker, TrackedFace, TrackerConfig
from doppelab.extract.masks import face_mask
from doppelab.extract.pipeline import embed_reference
from doppelab.provenance import watermark
from doppelab.provenance.publish import IMAGE_SUFFIXES, label_image, label_video
from doppelab.swap import postprocess as pp
from doppelab.swap.methods import SwapMethod, SwapOutput, TargetFace
from doppelab.swap.smoothing import OneEuro, smoother

Progress = Callable[[int], None]
RECHECK_EVERY = 25  # frames between identity re-checks of a track


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapConfig:
    """Post-processing and selection settings of ``doppelab swap`` (CLI flags map one to one)."""

    colour: str = "reinhard"
    blend: str = "alpha"
    erode: float = 0.0
    feather: float = 0.02
    sharpen: float = 0.0
    grain: bool = True
    smooth: float = 0.5
    target_face: Path | None = None
    identity_threshold: float = SAME_PERSON
    max_faces: int = 4
    min_face: float = 32.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.colour not in pp.COLOUR_MODES:
            raise UsageError(f"--colour must be one of {', '.join(pp.COLOUR_MODES)}")
        if self.blend not in ("alpha", "poisson"):
            raise UsageError("--blend must be alpha or poisson")
        if not (0 <= self.erode < 0.3 and 0 <= self.feather < 0.3 and 0 <= self.smooth <= 1):
            raise UsageError("--erode and --feather must be 0-0.3, --smooth 0-1")


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapResult:
    """What :func:`swap_file` wrote."""

    path: Path
    frames: int
    frames_swapped: int
    faces_swapped: int
    seconds: float
    payload_id: int
    manifest_sha256: str
    method: str


@dataclass(slots=True)
class _Track:
    matches: bool
    checked_at: int
    smooth: OneEuro | None


@dataclass(slots=True)
class FaceSwapper:
    """Per-target state: who to swap, per-track identity decisions and landmark filters."""

    method: SwapMethod
    cfg: SwapConfig
    person: Embedding | None
    embedder: IdentityEmbedder = field(default_factory=IdentityEmbedder)
    tracks: dict[int, _Track] = field(default_factory=dict)
    frames_swapped: int = 0
    faces_swapped: int = 0
    _align: AlignConfig = field(init=False)

    def __post_init__(self) -> None:
        self._align = AlignConfig(size=self.method.crop_size, coverage=self.method.coverage)

    def _wanted(self, image: ImageU8, tf: TrackedFace, n: int, faces: list[TrackedFace]) -> _Track:
        tr = self.tracks.get(tf.track_id)
        if tr is not None and n - tr.checked_at < RECHECK_EVERY:
            return tr
        if self.person is None:  # nobody named: the largest face when first seen
            largest = max(faces, key=lambda f: f.bbox.size)
            self.person = self.embedder.embed(image, largest.landmarks)
        emb = self.embedder.embed(image, tf.landmarks)
        matches = float(emb @ self.person) >= self.cfg.identity_threshold
        if tr is None:
            tr = _Track(matches, n, smoother(self.cfg.smooth))
            self.tracks[tf.track_id] = tr
        tr.matches, tr.checked_at = matches, n
        return tr

    def swap(self, frame: Frame, faces: list[TrackedFace]) -> list[Swapped]:
        """Stage 1: the method's output for every face of the chosen person in ``frame``."""
        out = []
        for tf in faces:
            tr = self._wanted(frame.image, tf, frame.ref.index, faces)
            if not tr.matches:
                continue
            lm = tf.landmarks if tr.smooth is None else tr.smooth(tf.landmarks, frame.ref.timestamp)
            m = crop_from_landmarks(lm, self._align)
            crop = warp_to_crop(frame.image, m, self._align.size)
            lm_crop = transform_points(m, lm)
            res = self.method.swap(
                TargetFace(
                    crop=crop,
                    landmarks=lm_crop,
                    track_id=tf.track_id,
                    timestamp=frame.ref.timestamp,
                )
            )
            out.append(Swapped(crop=crop, crop_from_frame=m, landmarks=lm_crop, result=res))
        self.faces_swapped += len(out)
        self.frames_swapped += bool(out)
        return out

    def frame(self, frame: Frame, faces: list[TrackedFace]) -> ImageU8:
        """The frame with every face of the chosen person swapped (both stages)."""
        return compose(frame, self.swap(frame, faces), self.cfg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Swapped:
    """A method's output for one face, with the target crop and matrix it was made in."""

    crop: ImageU8
    crop_from_frame: np.ndarray
    landmarks: np.ndarray
    result: SwapOutput


def compose(frame: Frame, swaps: list[Swapped], cfg: SwapConfig) -> ImageU8:
    """Stage 2: post-process each swapped face and paste it back into the frame."""
    out = frame.image
    for s in swaps:
        size = s.crop.shape[0]
        raw = s.result.mask * face_mask(s.landmarks, size, 0.0)
        mask = pp.shape_mask(raw, cfg.erode, cfg.feather)
        face = pp.transfer_colour(s.result.crop, s.crop, mask, cfg.colour)
        face = pp.sharpen(face, cfg.sharpen)
        if cfg.grain:
            face = pp.match_grain(face, s.crop, mask, seed=cfg.seed + frame.ref.index)
        if cfg.blend == "poisson":
            face = pp.poisson_blend(face, s.crop, mask)
        out = paste_back(out, face, mask, s.crop_from_frame)
    return out


def _reference(method: SwapMethod, cfg: SwapConfig) -> Embedding | None:
    if cfg.target_face is not None:
        return embed_reference(cfg.target_face)
    return method.target_identity


def _frames(
    swapper: FaceSwapper, target: Path, static: bool, progress: Progress | None
) -> Iterator[tuple[Frame, list[Swapped]]]:
    tcfg = TrackerConfig(
        max_faces=swapper.cfg.max_faces, min_face=swapper.cfg.min_face, static=static
    )
    with FaceTracker(tcfg) as tracker:
        for frame in iter_frames(target):
            yield frame, swapper.swap(frame, tracker.process(frame.image))
            if progress:
                progress(1)
    if swapper.faces_swapped == 0:  # raised inside the writer: nothing is written
        raise NoFaceError(f"no face of the chosen person in {target}")


def _video_needed(target: Path, frames: int | str, output: str | Path) -> UsageError:
    return UsageError(f"{target} holds {frames} frames: write them to a video output "
                      f"(.mp4 or .mov), not {Path(output).suffix}")


def swap_file(
    method: SwapMethod,
    target: str | Path,
    output: str | Path,
    config: SwapConfig | None = None,
    *,
    sources: dict[str, Path] | None = None,
    progress: Progress | None = None,
    keys_dir: Path | None = None,
    registry_path: Path | None = None,
) -> SwapResult:
    """Swap the chosen person's face in the image or video ``target`` and write ``output``
    (watermarked, signed, registered). Video keeps the target's audio and frame rate."""
    cfg = config or SwapConfig()
    t0 = time.perf_counter()
    target = Path(target)
    check_readable(target)  # one image or video file: a folder has no single output to label
    info = probe(target)
    if not watermark.markable(info.width, info.height):  # checked before any work is done
        raise NoFaceError(f"{target} is {info.width}x{info.height} px: too small to hold a face "
                          f"to swap and label (need {watermark.MIN_SIDE} px a side)")
    swapper = FaceSwapper(method, cfg, _reference(method, cfg))
    ingredients = {**(sources or {}), "target": target}
    # a still picture FFmpeg reads as a one-frame video (TIFF, AVIF, JPEG 2000, a still GIF) is
    # written as a picture when the output asks for one; several frames then need a video
    picture_out = Path(output).suffix.lower() in IMAGE_SUFFIXES
    static = info.kind == "image" or (picture_out and info.audio is None
                                      and (info.frames or 1) == 1)
    if picture_out and not static:  # refused before any work
        raise _video_needed(target, info.frames or "several", output)
    # three threads: tracking + the method; post-processing + paste-back; watermark + encoding
    swapped = prefetch(_frames(swapper, target, static, progress), depth=4)
    frames = prefetch((compose(f, s, cfg) for f, s in swapped), depth=4)
    if static:
        image = next(frames)
        extra = sum(1 for _ in frames)  # also runs the no-face check
        if extra:
            raise _video_needed(target, extra + 1, output)
        res = label_image(
            image,
            output,
            method=method.name,
            model_hash=method.model_hash,
            sources=ingredients,
            keys_dir=keys_dir,
            registry_path=registry_path,
        )
    else:
        res = label_video(
            frames,
            output,
            fps=info.fps or 25.0,
            audio_from=target,
            method=method.name,
            model_hash=method.model_hash,
            sources=ingredients,
            keys_dir=keys_dir,
            registry_path=registry_path,
        )
    return SwapResult(
        path=res.path,
        frames=res.frames,
        frames_swapped=swapper.frames_swapped,
        faces_swapped=swapper.faces_swapped,
        seconds=time.perf_counter() - t0,
        payload_id=res.payload_id,
        manifest_sha256=res.manifest_sha256,
        method=method.name,
    )
