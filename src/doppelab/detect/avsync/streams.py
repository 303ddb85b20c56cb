"""The two streams the sync analysis compares: the main face's lips per frame and the audio.

:func:`read_face_track` runs extraction's public :class:`~doppelab.extract.landmarks.FaceTracker`
over a video and keeps, for every frame, the landmarks of the main face (the track seen in the
most frames). :func:`read_audio` decodes the first audio track to 16 kHz mono float32 placed on
the video's timeline: sample 0 is at ``start_s`` seconds from the first video frame, taken from
the audio frames' own timestamps, so an audio track that was re-timed in the container (pts moved,
nothing re-encoded) is read with its new timing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from doppelab.core.errors import TruncatedMediaError
from doppelab.core.media import check_readable, iter_frames, probe
from doppelab.extract.landmarks import FaceTracker, TrackerConfig

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
SAMPLE_RATE = 16_000

# MediaPipe FaceMesh indices kept per frame: lips (outer and inner rings), eye corners, nose
# tip, chin and forehead (enough to normalise the mouth by face size and head roll).
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,
              375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,
              324, 318, 402, 317, 14, 87, 178, 88, 95)
ANCHORS = (33, 263, 133, 362, 1, 152, 10)
KEPT = LIPS_OUTER + LIPS_INNER + ANCHORS
KEPT_INDEX = {p: i for i, p in enumerate(KEPT)}

_log = logging.getLogger(__name__)


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


def _video_origin(container: av.container.InputContainer) -> float:
    """Start time (seconds) of the first video stream, 0 when unknown."""
    for stream in container.streams.video:
        if stream.start_time is not None and stream.time_base:
            return float(stream.start_time * stream.time_base)
    return 0.0


def read_audio(path: Path, *, max_seconds: float | None = None) -> AudioTrack | None:
    """The first audio track as 16 kHz mono float32 on the video's timeline; None without one.

    Sample 0 sits at the first audio frame's timestamp and gaps between later frames'
    timestamps are filled with silence, so the samples follow the container's timing.
    Decoding stops at ``max_seconds`` (plus one second).

    Raises:
        FileAccessError, EmptyFileError: unreadable path.
        TruncatedMediaError: the container or its audio cannot be read at all.
    """
    check_readable(path)
    try:
        container = av.open(str(path), "r", metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise TruncatedMediaError(f"cannot open the audio of {path} ({exc})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        origin = _video_origin(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[F32] = []
        start: float | None = None
        filled = 0
        limit = None if max_seconds is None else int((max_seconds + 1.0) * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and frame.time_base is not None:
                    t = float(Fraction(frame.pts) * frame.time_base) - origin
                    start = t if start is None else start
                    at = round((t - start) * SAMPLE_RATE)
                    if at > filled:  # a gap in the timestamps: silence
                        chunks.append(np.zeros(at - filled, np.float32))
                        filled = at
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1).astype(np.float32)
                    chunks.append(data)
                    filled += len(data)
                if limit is not None and filled >= limit:
                    break
        except (av.FFmpegError, ValueError) as exc:
            if not chunks:
                raise TruncatedMediaError(f"audio track does not decode ({exc}): {path}") from None
            _log.warning("%s: audio stopped early (%s)", path, exc)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return AudioTrack(samples=samples, start_s=start or 0.0)
