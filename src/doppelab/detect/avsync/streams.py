"""The two streams the sync analysis compares: the main face's lips per frame and the audio.

:func:`read_face_track` runs extraction's public :class:`~doppelab.extract.landmarks.FaceTracker`
over a video and keeps, for every frame, the landmarks of the main face (the track seen in the
most frames). :func:`read_audio` decodes the first audio track to 16 kHz mono float32 placed on
the video's timeline with the audio stage's decoder (``timestamps=True``): sample 0 is at
``start_s`` seconds from the first video frame, taken from the audio frames' own timestamps, so
an audio track that was re-timed in the container (pts moved, nothing re-encoded) is read with
its new timing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doppelab.audio import SAMPLE_RATE, NoAudioError, iter_audio_blocks, load_audio
from doppelab.core.media import iter_frames, probe
from doppelab.core.media_spans import iter_span_frames
from doppelab.extract.landmarks import FaceTracker, TrackerConfig

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# MediaPipe FaceMesh indices kept per frame: lips (outer and inner rings), eye corners, nose
# tip, chin and forehead (enough to normalise the mouth by face size and head roll).
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,
              375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,
              324, 318, 402, 317, 14, 87, 178, 88, 95)
ANCHORS = (33, 263, 133, 362, 1, 152, 10)
KEPT = LIPS_OUTER + LIPS_INNER + ANCHORS
KEPT_INDEX = {p: i for i, p in enumerate(KEPT)}


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceTrack:
    """Lip and anchor landmarks of the main face. Shape: ``points (T, len(KEPT), 2)`` frame px,
    NaN where the face was not found; ``times (T,)`` seconds from the first frame."""

    points: F32
    times: F64
    fps: float

    @property
    def found(self) -> npt.NDArray[np.bool_]:
        """``(T,)`` True where the main face has landmarks."""
        return np.asarray(np.isfinite(self.points[:, 0, 0]))


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioTrack:
    """16 kHz mono float32 ``samples``; ``start_s`` = time of sample 0 on the video's timeline."""

    samples: F32
    start_s: float
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def read_face_track(path: Path, *, max_seconds: float | None = None) -> FaceTrack:
    """Landmarks of the main face in every frame of the video at ``path`` (up to ``max_seconds``).

    Raises:
        InputError subclasses from :mod:`doppelab.core.media` for unreadable video.
    """
    info = probe(path)
    fps = float(info.fps or 25.0)
    per_track: dict[int, dict[int, F32]] = {}
    times: list[float] = []
    origin: float | None = None
    with FaceTracker(TrackerConfig(max_faces=2)) as tracker:
        for frame in iter_frames(path):
            origin = frame.ref.timestamp if origin is None else origin
            t = frame.ref.timestamp - origin
            if max_seconds is not None and t >= max_seconds:
                break
            idx = len(times)
            times.append(t)
            for face in tracker.process(frame.image):
                per_track.setdefault(face.track_id, {})[idx] = np.asarray(
                    face.landmarks[list(KEPT), :2], np.float32)
    points = np.full((len(times), len(KEPT), 2), np.nan, np.float32)
    if per_track:
        main = max(per_track.values(), key=len)
        for idx, pts in main.items():
            points[idx] = pts
    return FaceTrack(points=points, times=np.asarray(times, np.float64), fps=fps)


def read_face_tracks(path: Path, spans: Sequence[tuple[float, float]]) -> list[FaceTrack]:
    """The main face of each time span of the video at ``path`` (seconds from the video
    stream's start, sorted, non-overlapping), found by seeking (:func:`~doppelab.core.
    media_spans.iter_span_frames`); each span gets its own tracker, and its ``times`` stay on
    the video's timeline (they start near the span's start, not at 0). A span past the end of
    the video gives an empty track.

    Raises:
        InputError subclasses from :mod:`doppelab.core.media` for unreadable video.
    """
    fps = float(probe(path).fps or 25.0)
    found: list[dict[int, dict[int, F32]]] = [{} for _ in spans]
    times: list[list[float]] = [[] for _ in spans]
    for k, frames in itertools.groupby(iter_span_frames(path, spans), key=lambda kf: kf[0]):
        with FaceTracker(TrackerConfig(max_faces=2)) as tracker:  # no track crosses a gap
            for _, frame in frames:
                idx = len(times[k])
                times[k].append(frame.ref.timestamp)
                for face in tracker.process(frame.image):
                    found[k].setdefault(face.track_id, {})[idx] = np.asarray(
                        face.landmarks[list(KEPT), :2], np.float32)
    return [_main_track(f, t, fps) for f, t in zip(found, times, strict=True)]


def _main_track(per_track: dict[int, dict[int, F32]], times: list[float], fps: float
                ) -> FaceTrack:
    points = np.full((len(times), len(KEPT), 2), np.nan, np.float32)
    if per_track:
        for idx, pts in max(per_track.values(), key=len).items():
            points[idx] = pts
    return FaceTrack(points=points, times=np.asarray(times, np.float64), fps=fps)


def read_audio_spans(path: Path, spans: Sequence[tuple[float, float]], margin: float = 1.0
                     ) -> list[AudioTrack] | None:
    """The audio of each time span (``margin`` seconds added either side), on the video's
    timeline as :func:`read_audio` places it; streamed, so memory holds only the spans.
    None without an audio track; a span the audio does not reach gets an empty track.

    Raises:
        what :func:`read_audio` raises.
    """
    wanted = [(max(0.0, a - margin), b + margin) for a, b in spans]
    parts: list[list[F32]] = [[] for _ in spans]
    starts: list[float | None] = [None for _ in spans]
    try:
        blocks = iter_audio_blocks(path, sample_rate=SAMPLE_RATE, block_seconds=10.0,
                                   max_seconds=wanted[-1][1] + 1.0, timestamps=True)
        for block in blocks:
            b0, n = block.offset, len(block.samples)
            for k, (a, b) in enumerate(wanted):
                lo = max(0, int(np.ceil((a - b0) * SAMPLE_RATE)))
                hi = min(n, int(np.floor((b - b0) * SAMPLE_RATE)))
                if hi > lo:
                    if starts[k] is None:
                        starts[k] = b0 + lo / SAMPLE_RATE
                    parts[k].append(block.samples[lo:hi])
    except NoAudioError:
        return None
    return [AudioTrack(samples=np.concatenate(p) if p else np.zeros(0, np.float32),
                       start_s=a if s is None else s)
            for p, s, (a, _) in zip(parts, starts, wanted, strict=True)]


def read_audio(path: Path, *, max_seconds: float | None = None) -> AudioTrack | None:
    """The first audio track as 16 kHz mono float32 on the video's timeline; None without one.

    The audio stage's decoder with ``timestamps=True``: sample 0 sits at the first audio
    frame's timestamp (``start_s``, from the start of the video stream) and gaps between later
    frames' timestamps are filled with silence, so the samples follow the container's timing.
    Decoding stops at ``max_seconds`` (plus one second).

    Raises:
        FileAccessError, EmptyFileError, NotMediaError, UnsupportedCodecError: unreadable path.
        TruncatedMediaError: the audio track does not decode at all.
    """
    try:
        clip = load_audio(path, sample_rate=SAMPLE_RATE, normalize=False, timestamps=True,
                          max_seconds=None if max_seconds is None else max_seconds + 1.0)
    except NoAudioError:
        return None
    return AudioTrack(samples=clip.samples, start_s=clip.offset)
