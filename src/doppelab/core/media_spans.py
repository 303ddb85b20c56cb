"""Video frames inside chosen time spans, found by seeking rather than decoding everything.

For analyses that sample a long video (the audio-visual sync check reads a few excerpts spread
over a two-hour file): the container seeks to the key frame before each span where it can, and
only frames whose timestamp lies inside a span are converted to RGB. A stream that cannot seek
(no index, a pipe-like format, a damaged index) is decoded through instead, which gives the same
frames, only more slowly.

Timestamps are seconds from the video stream's start time (``pts * time_base``), as in
:func:`doppelab.core.media.iter_frames`; the ``index`` of each frame's :class:`FrameRef` is
estimated from its timestamp and the stream's frame rate (a seek does not say how many frames
lie before it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from doppelab.core.errors import TruncatedMediaError, UsageError
from doppelab.core.media_check import DEFAULT_MAX_PIXELS, media_id
from doppelab.core.media_video import (
    Orientation,
    PacketSkips,
    _ArrayPool,
    _decode_error,
    _orientation,
    decode_skipping,
    open_decoding,
    plausible_fps,
    upright_rgb,
)
from doppelab.core.types import Frame, FrameRef

__all__ = ["iter_span_frames"]

_log = logging.getLogger(__name__)
# Seek only when the next span starts this far past the frame just decoded: decoding a few
# seconds through is cheaper than a seek back to a key frame and its decoding run-up.
_SEEK_GAP_S = 5.0
_ERRORS = (av.FFmpegError, OSError, ValueError)
# How far before a span's start a seek that overshot is tried again (seconds; 0 = the start).
_SEEK_BACK_S = (0.0, 5.0, 30.0, float("inf"))


def _check_spans(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [(float(a), float(b)) for a, b in spans]
    if not out or any(not 0 <= a < b for a, b in out) or any(
            out[i][1] > out[i + 1][0] for i in range(len(out) - 1)):
        raise UsageError(f"need sorted, non-overlapping spans with 0 <= start < end, got {spans}")
    return out


class _Reader:
    """One video stream decoded forward, able to seek; yields (timestamp, frame)."""

    def __init__(self, container: InputContainer, stream: VideoStream, path: Path) -> None:
        self.container, self.stream, self.path = container, stream, path
        self.time_base = stream.time_base or Fraction(1, 90_000)
        self.origin = stream.start_time or 0
        self.rate = plausible_fps(stream.average_rate or stream.guessed_rate) or 25.0
        self.skips = PacketSkips()
        self.frames = decode_skipping(container, stream, self.skips)
        self.timestamp = -1.0  # of the last decoded frame
        self.decoded = 0
        self.can_seek = True
        self.peeked: tuple[float, VideoFrame] | None = None  # decoded by seek, not yet read

    def seek(self, t: float) -> bool:
        """Move to a key frame at or before ``t`` seconds when ``t`` lies far ahead; False
        when it stays (near enough to decode through, or the stream cannot seek).

        Some containers (MPEG-TS, by a search over timestamps) can land past the target; the
        seek is then repeated from further back, down to the start of the stream."""
        if not self.can_seek or t - self.timestamp < _SEEK_GAP_S:
            return False
        for back in _SEEK_BACK_S:
            target = max(0.0, t - back)
            try:
                self.container.seek(int(self.origin + target / self.time_base),
                                    stream=self.stream, backward=True)
            except _ERRORS as exc:
                _log.info("%s: cannot seek (%s); decoding through", self.path, exc)
                self.can_seek = False
                return False
            self.frames = decode_skipping(self.container, self.stream, self.skips)
            self.timestamp, self.peeked = -1.0, None
            first = self.next()
            self.peeked = first
            if first is None or first[0] <= t or target == 0.0:
                return True
        return True

    def next(self) -> tuple[float, VideoFrame] | None:
        """The next frame and its timestamp; None at the end (or, after frames were read, at an
        undecodable packet, which is logged)."""
        if self.peeked is not None:
            got, self.peeked = self.peeked, None
            return got
        try:
            frame = next(self.frames)
        except StopIteration:
            return None
        except _ERRORS as exc:
            if self.decoded == 0:
                raise _decode_error(exc, self.path) from None
            _log.warning("%s: stopped after %d decodable frames (%s)", self.path, self.decoded,
                         exc)
            return None
        if frame.pts is None:  # no timestamps: seeking could not be placed, count frames
            self.can_seek = False
            self.timestamp = self.timestamp + 1.0 / self.rate if self.decoded else 0.0
        else:
            self.timestamp = float((frame.pts - self.origin) * self.time_base)
        self.decoded += 1
        return self.timestamp, frame


def iter_span_frames(
    path: str | Path, spans: Sequence[tuple[float, float]], *,
    max_pixels: int = DEFAULT_MAX_PIXELS, threads: int = 1,
) -> Iterator[tuple[int, Frame]]:
    """Upright RGB frames whose timestamp ``t`` has ``start <= t < end`` for one of ``spans``
    (seconds, sorted, non-overlapping), each with the number of its span; ``threads`` as in
    :func:`doppelab.core.media.iter_frames` (one by default: reproducible on damaged streams).

    The path is opened and checked by this call (the media errors of
    :func:`doppelab.core.media.iter_frames`); decoding errors are raised while iterating.
    Shape: each ``Frame.image`` is ``(H, W, 3)`` uint8 RGB.

    Raises:
        UsageError: spans that are empty, unsorted or overlapping.
    """
    checked = _check_spans(spans)
    p = Path(path)
    container, stream = open_decoding(p, max_pixels, threads)
    return _iterate(container, stream, p, checked)


def _iterate(container: InputContainer, stream: VideoStream, path: Path,
             spans: list[tuple[float, float]]) -> Iterator[tuple[int, Frame]]:
    mid = media_id(path)
    reader = _Reader(container, stream, path)
    reformatter = VideoReformatter()
    pool = _ArrayPool()
    orient: Orientation | None = None
    pending: tuple[float, VideoFrame] | None = None  # read past one span, maybe in the next
    with container:
        for k, (start, end) in enumerate(spans):
            if reader.seek(start):
                pending = None
            while True:
                got, pending = pending or reader.next(), None
                if got is None:
                    if reader.decoded == 0:
                        if reader.skips.first is not None:
                            raise _decode_error(reader.skips.first, path)
                        raise TruncatedMediaError(f"no decodable video frames: {path}")
                    reader.skips.warn(path)
                    return
                t, frame = got
                if orient is None:
                    orient = _orientation(frame, stream)
                if t < start:
                    continue
                if t >= end:
                    pending = got
                    break
                image = upright_rgb(frame, reformatter, pool, orient)
                index = round(t * reader.rate)
                yield k, Frame(ref=FrameRef(media_id=mid, index=index, timestamp=t), image=image)
