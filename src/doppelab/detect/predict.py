"""Prediction: an image or video in, a calibrated and explained verdict out (``doppelab detect``).

Protocol (as DeepfakeBench): ``frames`` frames sampled evenly over a video (all of an image),
every face found there aligned to :data:`~doppelab.detect.data.CROP` (the face with margin) and
scored by the face detectors; a frame's score is its most suspicious face; the video's score is
the mean frame logit (fused, calibrated) plus the temporal detector's excess. For videos with the
temporal detector on, landmarks are tracked on every frame (that is what blinks and jitter need);
faces are aligned and scored on the sampled frames only.

Faces are only scored when usable: a face under ``min_face`` px is "face too small", a face whose
centre is darker than ``min_light`` is "too dark", one sharper than ``min_sharpness`` fails as
"too blurry". Without a usable face the verdict is ``inconclusive`` with that reason (never
"real").
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.errors import UsageError
from doppelab.core.media import iter_frames, probe
from doppelab.core.types import BBox, Frame, MediaInfo
from doppelab.detect.base import FaceBatch, TrackSeries, create_detector, verdict
from doppelab.detect.data import NET_SIZE, net_face
from doppelab.detect.fusion import Fusion
from doppelab.detect.quality import assess, bits_per_pixel
from doppelab.extract.landmarks import FaceTracker, TrackerConfig
from doppelab.extract.quality import sharpness


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectConfig:
    """Settings of ``doppelab detect``."""

    frames: int = 32
    detectors: tuple[str, ...] = ("blend", "frequency", "temporal", "speech", "avsync")
    min_face: float = 48.0
    min_light: float = 35.0
    min_sharpness: float = 25.0  # real train faces: 1st percentile 107, minimum 39
    max_faces: int = 4
    threads: int = 1
    top: int = 4  # most suspicious faces kept with their heatmaps
    embed_frames: int = 8  # sampled frames whose faces get an identity embedding (temporal)
    audio_hop: float = 1.0  # seconds between the speech detector's 2 s windows
    max_audio_seconds: float | None = None  # audio analysed (None: all of it, streamed)
    speaker_reference: str | None = None  # a real recording of the claimed speaker (optional)

    def __post_init__(self) -> None:
        # 0 frames would sample nothing and leave every video unscored (eval took it quietly)
        if self.frames < 1:
            raise UsageError(f"--frames must be >= 1, got {self.frames}")


@dataclass(slots=True, kw_only=True)
class FaceResult:
    """One face on one sampled frame."""

    frame: int
    timestamp: float
    track: int
    bbox: tuple[float, float, float, float]
    usable: bool
    reason: str | None = None
    scores: dict[str, float] = field(default_factory=dict)  # detector -> own probability
    logit: float | None = None  # fused, calibrated
    probability: float | None = None


@dataclass(slots=True, kw_only=True)
class MediaResult:
    """The verdict on one file and everything the report shows."""

    path: str
    kind: str
    width: int
    height: int
    frames_total: int
    frames_sampled: int
    verdict: str = "inconclusive"
    reason: str | None = None
    probability: float | None = None
    detectors: dict[str, float | None] = field(default_factory=dict)
    detector_logits: dict[str, float] = field(default_factory=dict)  # mean raw logit per detector
    timeline: list[dict[str, Any]] = field(default_factory=list)
    faces: list[FaceResult] = field(default_factory=list)
    temporal: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    suspicious: list[dict[str, Any]] = field(default_factory=list)  # crops/heatmaps (not JSON)
    quality: dict[str, float] = field(default_factory=dict)  # face_px, bits_per_pixel
    caveats: list[str] = field(default_factory=list)  # conditions known to bias the verdict
    speech: dict[str, Any] | None = None  # speech evidence (detect.predict_audio)
    av_sync: dict[str, Any] | None = None  # audio-visual sync evidence


@dataclass(slots=True)
class _Collected:
    crops: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    landmarks: list[npt.NDArray[np.float32]] = field(default_factory=list)
    faces: list[FaceResult] = field(default_factory=list)
    tracks: dict[int, list[tuple[float, npt.NDArray[np.float32]]]] = field(default_factory=dict)
    embeddings: dict[int, list[npt.NDArray[np.float32]]] = field(default_factory=dict)
    frames_seen: int = 0


def _usable_batch(col: _Collected) -> tuple[list[int], FaceBatch]:
    """Indices of the usable faces in ``col`` and their crops and landmarks as one batch (empty,
    with the network's shapes, when none is usable)."""
    usable = [i for i, f in enumerate(col.faces) if f.usable]
    if not usable:
        return usable, FaceBatch(crops=np.zeros((0, NET_SIZE, NET_SIZE, 3), np.uint8),
                                 landmarks=np.zeros((0, 478, 2), np.float32))
    return usable, FaceBatch(crops=np.stack([col.crops[i] for i in usable]),
                             landmarks=np.stack([col.landmarks[i] for i in usable]))


def sample_indices(total: int, n: int) -> npt.NDArray[np.int64]:
    """``n`` evenly spread frame indices of ``total`` (all when ``total <= n``)."""
    if total <= 0:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, total - 1, min(n, total)).round().astype(np.int64))


def face_problem(crop128: npt.NDArray[np.uint8], box: BBox, cfg: DetectConfig) -> str | None:
    """Why a face cannot be judged (too small, too dark, too blurry), or None."""
    if box.size < cfg.min_face:
        return "face too small"
    centre = cv2.cvtColor(crop128[32:96, 32:96], cv2.COLOR_RGB2GRAY)
    if float(centre.mean()) < cfg.min_light:
        return "too dark"
    if sharpness(crop128) < cfg.min_sharpness:
        return "too blurry"
    return None


@dataclass
class Detect:
    """Loaded detectors + fusion; call :meth:`run` per file. Not thread-safe."""

    config: DetectConfig = field(default_factory=DetectConfig)
    models: dict[str, Any] = field(init=False, default_factory=dict)
    fusion: Fusion = field(init=False, default_factory=Fusion)
    embedder: Any = field(init=False, default=None)
    voice: Any = field(init=False, default=None)  # the speaker reference, embedded once

    def __post_init__(self) -> None:
        for name in self.config.detectors:
            if name == "avsync":  # a whole-video analysis, not a registered batch detector
                continue
            kw = {"threads": self.config.threads} if name == "blend" else {}
            self.models[name] = create_detector(name, **kw)
        if any(m.level == "face" for m in self.models.values()):
            self.fusion = Fusion.load()
        if self.config.speaker_reference is not None and "speech" in self.models:
            from doppelab.detect.predict_audio import reference_voice

            self.voice = reference_voice(self.config)

    def run(self, path: str | Path) -> MediaResult:
        """Score one image or video (raises the typed media errors of :mod:`doppelab.core`)."""
        t0 = time.perf_counter()
        speech = self.models.get("speech")
        if speech is not None:
            from doppelab.detect.predict_audio import audio_result, is_audio_file

            if is_audio_file(path):
                return audio_result(path, speech, self.config, self.voice)
        info = probe(path)
        total = self._count(path, info)
        picks = self._picks(total)
        res = MediaResult(
            path=str(path),
            kind=info.kind,
            width=info.width,
            height=info.height,
            frames_total=total,
            frames_sampled=len(picks),
        )
        video = info.kind == "video" and not Path(path).is_dir()
        col = self._collect(path, picks, video and "temporal" in self.models)
        res.faces = col.faces
        self._score(col, res)
        widths = [f.bbox[2] - f.bbox[0] for f in col.faces if f.usable]
        res.quality, res.caveats = assess(widths, bits_per_pixel(path, info))
        if video and (speech is not None or "avsync" in self.config.detectors):
            from doppelab.detect.predict_audio import attach_av_sync, attach_speech, fuse_channels

            if speech is not None:
                attach_speech(res, path, speech, self.config, self.voice)
            if "avsync" in self.config.detectors:
                attach_av_sync(res, path, self.config)
            fuse_channels(res, self.fusion.margin)
        res.seconds = time.perf_counter() - t0
        return res

    @staticmethod
    def _count(path: str | Path, info: MediaInfo) -> int:
        if info.frames is not None and info.frames > 0:
            return int(info.frames)
        return sum(1 for _ in iter_frames(path))

    def _picks(self, total: int) -> set[int]:
        """The frame indices :meth:`run` samples of a ``total``-frame input."""
        return set(sample_indices(total, self.config.frames).tolist())

    def series(self, path: str | Path) -> TrackSeries | None:
        """The main track of a video as the temporal detector sees it (None when too short)."""
        picks = self._picks(self._count(path, probe(path)))
        return _main_series(self._collect(path, picks, True))

    def sampled_faces(self, path: str | Path) -> FaceBatch:
        """The usable faces on the frames :meth:`run` samples (``config.frames``, static
        landmarks), aligned and cropped exactly as the face detectors see them: for measuring
        a detector on what ``detect`` scores without running the others."""
        return self.sampled_frames(path)[1]

    def sampled_frames(self, path: str | Path) -> tuple[npt.NDArray[np.int64], FaceBatch]:
        """:meth:`sampled_faces` with the frame index of each face (a video's score is the mean
        over frames of each frame's most suspicious face)."""
        col = self._collect(path, self._picks(self._count(path, probe(path))), False)
        usable, batch = _usable_batch(col)
        return np.array([col.faces[i].frame for i in usable], np.int64), batch

    def _collect(self, path: str | Path, picks: set[int], track_all: bool) -> _Collected:
        tcfg = TrackerConfig(max_faces=self.config.max_faces, min_face=24.0, static=not track_all)
        col = _Collected()
        ordered = sorted(picks)
        spread = np.linspace(0, len(ordered) - 1, min(self.config.embed_frames, len(ordered)))
        embed_at = {ordered[round(float(i))] for i in spread} if track_all and ordered else set()
        with FaceTracker(tcfg) as tracker:
            for frame in iter_frames(path):
                col.frames_seen += 1
                sampled = frame.ref.index in picks
                if not (sampled or track_all):
                    continue
                found = tracker.process(frame.image)
                for tf in found:
                    col.tracks.setdefault(tf.track_id, []).append(
                        (frame.ref.timestamp, tf.landmarks)
                    )
                if sampled:
                    self._add_faces(col, frame, found, frame.ref.index in embed_at)
        return col

    def _add_faces(self, col: _Collected, frame: Frame, found: list[Any], embed: bool) -> None:
        for tf in found:
            crop, landmarks = net_face(frame.image, tf.landmarks)
            why = face_problem(crop, tf.bbox, self.config)
            b = tf.bbox
            col.faces.append(
                FaceResult(
                    frame=frame.ref.index,
                    timestamp=frame.ref.timestamp,
                    track=tf.track_id,
                    bbox=(b.x0, b.y0, b.x1, b.y1),
                    usable=why is None,
                    reason=why,
                )
            )
            col.crops.append(crop)
            col.landmarks.append(landmarks)
            if embed and why is None:
                if self.embedder is None:
                    from doppelab.extract.identity import IdentityEmbedder

                    self.embedder = IdentityEmbedder()
                col.embeddings.setdefault(tf.track_id, []).append(
                    self.embedder.embed(frame.image, tf.landmarks)
                )

    def _score(self, col: _Collected, res: MediaResult) -> None:
        usable, batch = _usable_batch(col)
        if not usable:
            res.verdict, res.reason = "inconclusive", _no_face_reason(col.faces)
            return
        if not any(m.level == "face" for m in self.models.values()):
            self._without_face_detectors(col, res)
            return
        outs = {n: m.forward(batch) for n, m in self.models.items() if m.level == "face"}
        fused = self.fusion.face_logits({n: o["logits"] for n, o in outs.items()})
        for j, i in enumerate(usable):
            f = col.faces[i]
            f.scores = {n: float(o["probability"][j]) for n, o in outs.items()}
            f.logit = float(fused[j])
            f.probability = float(self.fusion.probability(fused[j]))
        self._timeline(res, col.faces)
        temporal_logit = self._temporal(col, res)
        video_logit = self.fusion.video_logit([t["logit"] for t in res.timeline], temporal_logit)
        res.probability = float(self.fusion.probability(video_logit))
        res.detectors = {n: float(np.mean(o["probability"])) for n, o in outs.items()}
        res.detector_logits = {n: float(np.mean(o["logits"])) for n, o in outs.items()}
        if temporal_logit is not None:
            self._record_temporal(res, temporal_logit)
        used = [*outs, *(["temporal"] if self.fusion.temporal_weight > 0 else [])]
        res.verdict, res.reason = verdict(
            res.probability, self.fusion.margin,
            fake_reason=face_fake_reason(res, self.fusion.margin, used))
        _keep_suspicious(res, col, usable, outs, self.config.top)

    def _without_face_detectors(self, col: _Collected, res: MediaResult) -> None:
        """Faces were found but no per-face detector was chosen (``--detectors`` of only
        temporal, speech or avsync): the temporal detector alone, or no face verdict."""
        temporal_logit = self._temporal(col, res)
        if temporal_logit is None:
            res.verdict, res.reason = "inconclusive", "no face detector chosen"
            return
        res.probability = self._record_temporal(res, temporal_logit)
        res.verdict, res.reason = verdict(
            res.probability, self.fusion.margin,
            fake_reason=face_fake_reason(res, self.fusion.margin, ["temporal"]))

    def _record_temporal(self, res: MediaResult, logit: float) -> float:
        """The temporal detector's probability and logit into ``res``; returns the probability."""
        probability = float(self.fusion.probability(logit))
        res.detectors["temporal"] = probability
        res.detector_logits["temporal"] = float(logit)
        return probability

    @staticmethod
    def _timeline(res: MediaResult, faces: list[FaceResult]) -> None:
        per: dict[int, FaceResult] = {}
        for f in faces:
            if (
                f.usable
                and f.logit is not None
                and (f.frame not in per or f.logit > (per[f.frame].logit or -np.inf))
            ):
                per[f.frame] = f
        res.timeline = [
            {
                "frame": k,
                "timestamp": per[k].timestamp,
                "logit": per[k].logit,
                "probability": per[k].probability,
            }
            for k in sorted(per)
        ]

    def _temporal(self, col: _Collected, res: MediaResult) -> float | None:
        det = self.models.get("temporal")
        series = _main_series(col) if det is not None and res.kind == "video" else None
        if det is None or series is None:
            return None
        out = det.forward(series)
        from doppelab.detect.temporal import NAMES

        res.temporal = {n: float(v) for n, v in zip(NAMES, out["features"][0], strict=False)}
        return float(out["logits"][0])


FAKE_EVIDENCE = "fake evidence from "  # how every "likely fake" reason of detect begins


def face_fake_reason(res: MediaResult, margin: float, used: list[str]) -> str:
    """Why the face channel says "likely fake": ``fake evidence from face`` and, in brackets,
    those of the ``used`` detectors (the ones the score is made of) whose own mean probability
    is at or above ``0.5 + margin``, e.g. ``fake evidence from face (blend, frequency)``."""
    strong = [n for n in used if (res.detectors.get(n) or 0.0) >= 0.5 + margin]
    return FAKE_EVIDENCE + "face" + (f" ({', '.join(strong)})" if strong else "")


def _main_series(col: _Collected, min_frames: int = 8) -> TrackSeries | None:
    """The longest track as a :class:`TrackSeries` (None when shorter than ``min_frames``)."""
    if not col.tracks:
        return None
    tid = max(col.tracks, key=lambda t: len(col.tracks[t]))
    seq = col.tracks[tid]
    if len(seq) < min_frames:
        return None
    emb = col.embeddings.get(tid, [])
    return TrackSeries(
        landmarks=np.stack([lm for _, lm in seq]).astype(np.float32),
        timestamps=np.array([t for t, _ in seq], np.float64),
        embeddings=np.stack(emb) if emb else np.zeros((0, 128), np.float32),
    )


def _no_face_reason(faces: list[FaceResult]) -> str:
    if not faces:
        return "no face"
    reasons = Counter(f.reason for f in faces if f.reason)
    return reasons.most_common(1)[0][0] if reasons else "no face"


def _keep_suspicious(
    res: MediaResult, col: _Collected, usable: list[int], outs: dict[str, Any], top: int
) -> None:
    order = sorted(range(len(usable)), key=lambda j: -(col.faces[usable[j]].logit or 0.0))
    heat = outs.get("blend", {}).get("evidence")
    for j in order[:top]:
        f = col.faces[usable[j]]
        res.suspicious.append(
            {
                "frame": f.frame,
                "timestamp": f.timestamp,
                "probability": f.probability,
                "crop": col.crops[usable[j]],
                "heatmap": None
                if heat is None
                else cv2.resize(heat[j], (NET_SIZE, NET_SIZE), interpolation=cv2.INTER_LINEAR),
            }
        )
