"""Video input (PyAV): probe a video's streams and decode it into upright RGB frames.

Convention and errors as in :mod:`doppelab.core.media`, which is the public way in
(:func:`~doppelab.core.media.probe`, :func:`~doppelab.core.media.iter_frames`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from doppelab.core.errors import (
    InputError,
    NotMediaError,
    TruncatedMediaError,
    UnsupportedCodecError,
)
from doppelab.core.media_check import bad_data, check_pixels, check_readable, map_av_error, media_id
from doppelab.core.types import AudioInfo, Frame, FrameRef, ImageU8, MediaInfo

__all__ = [
    "MAX_BAD_PACKETS", "MAX_FPS", "MIN_FPS", "PacketSkips", "decode_skipping", "iter_video",
    "open_decoding", "open_frames", "open_video", "plausible_fps", "probe_video", "video_stream",
]

_log = logging.getLogger(__name__)


def open_video(path: Path) -> InputContainer:
    check_readable(path)
    try:
        return av.open(str(path), "r", metadata_errors="replace")
    except (av.FFmpegError, OSError, UnicodeError, ValueError) as exc:
        raise map_av_error(exc, path) from None


def real_video_streams(container: InputContainer) -> list[VideoStream]:
    """The container's video streams without cover-art pictures."""
    return [s for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic]


def _pixel_count(stream: VideoStream) -> int:
    try:
        return int(stream.codec_context.width) * int(stream.codec_context.height)
    except Exception:  # no decoder: ranked last
        return -1


def video_stream(container: InputContainer, path: Path, max_pixels: int) -> VideoStream:
    """The real video stream with the most pixels (cover-art pictures skipped; the first of
    equals), checked before decoding. A file with several angles or a small preview track
    beside the main one is read from its main picture, as FFmpeg's own choice would be."""
    streams = real_video_streams(container)
    if not streams and container.streams.audio:  # a WAV or MP3 given to extract/swap/verify
        raise NotMediaError(f"an audio file, not an image or video: {path}")
    if not streams:
        raise NotMediaError(f"no video stream: {path}")
    stream = max(streams, key=_pixel_count)
    try:
        ctx = stream.codec_context
    except Exception:
        ctx = None
    if ctx is None:
        raise UnsupportedCodecError(f"no decoder for the video codec in the bundled FFmpeg: {path}")
    if ctx.width <= 0 or ctx.height <= 0:
        raise bad_data(path, "no frame size in the header")
    check_pixels(ctx.width, ctx.height, max_pixels, path)
    return stream


Orientation = tuple[int, bool]
"""(k, mirror): np.rot90's counter-clockwise quarter turns ``k``, applied after a left-right
flip when ``mirror``; (0, False) leaves a frame as stored."""


def _display_matrix(frame: VideoFrame) -> npt.NDArray[np.int32] | None:
    """The frame's 3x3 display matrix (9 int32, 16.16 fixed point) or None."""
    for side in getattr(frame, "side_data", ()):
        if getattr(side.type, "name", "") == "DISPLAYMATRIX":
            raw = bytes(side)
            if len(raw) >= 36:
                return np.frombuffer(raw[:36], dtype=np.int32)
    return None


def _orientation(frame: VideoFrame, stream: VideoStream) -> Orientation:
    """How to make ``frame`` upright, by FFmpeg's own autorotate rules (``fftools``): the
    rotation of the display matrix to the nearest quarter turn, and its mirror when the matrix
    flips (a negative determinant: front cameras, editors' "flip"). A degenerate matrix (all
    zeros: FFmpeg reports its rotation as NaN, PyAV as -2^31) leaves the frame as stored."""
    ccw = getattr(frame, "rotation", 0) or 0  # display matrix (PyAV >= 14), counter-clockwise
    if not -360 <= ccw <= 360:
        return 0, False
    if not ccw:
        try:
            ccw = -int(float(stream.metadata.get("rotate", "0")))  # legacy tag: clockwise
        except ValueError:
            ccw = 0
        if not -360 <= ccw <= 360:
            ccw = 0
    turns = round(float(ccw) / 90.0) % 4
    m = _display_matrix(frame)
    if m is None or abs(ccw - 90 * round(ccw / 90)) >= 1:
        return turns, False
    if turns == 0:
        return (2, True) if m[4] < 0 else (0, False)  # a vertical flip
    if turns == 2:  # 180: a flip of each axis whose scale is negative
        h, v = bool(m[0] < 0), bool(m[4] < 0)
        return (0, True) if h and not v else (2, True) if v and not h else (2, False)
    if turns == 3:  # 90 clockwise; a positive m[3] makes it a transpose
        return (1, True) if m[3] > 0 else (3, False)
    return (3, True) if m[3] < 0 else (1, False)  # 270 clockwise; negative m[3]: anti-transpose


class _ArrayPool:
    """Output arrays recycled once the caller has dropped every reference to them.

    Each decoded frame otherwise lands in freshly mapped memory, and the page faults cost about
    a third of the decode time at 512x512; one copy into a warm, unreferenced array is cheaper.
    An array still referenced anywhere (a Frame, a view, a tensor) is never reused (CPython
    reference counts; the 3 below are the pool's list, the loop variable and getrefcount's own).
    """

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.arrays: list[ImageU8] = []

    def upright_copy(self, image: ImageU8, orient: Orientation) -> ImageU8:
        """``image`` turned upright by ``orient`` (see :data:`Orientation`), in a pooled
        array."""
        turns, mirror = orient
        view = image[:, ::-1] if mirror else image
        view = np.rot90(view, turns) if turns else view
        out = next((a for a in self.arrays if a.shape == view.shape and sys.getrefcount(a) <= 3),
                   None)
        if out is None:
            out = np.empty(view.shape, np.uint8)
            if len(self.arrays) < self.size:
                self.arrays.append(out)
        np.copyto(out, view)
        return out


def upright_rgb(frame: VideoFrame, reformatter: VideoReformatter, pool: _ArrayPool,
                orient: Orientation) -> ImageU8:
    """``frame`` as upright RGB in one of ``pool``'s arrays; the converter's own buffer is
    dropped on return, so it goes straight back to the allocator, still warm."""
    rgb = cast(ImageU8, reformatter.reformat(frame, format="rgb24").to_ndarray())
    return pool.upright_copy(rgb, orient)


# Undecodable packets skipped in a row before a stream is given up as garbage (a whole GOP of
# damaged frames is a few hundred at most).
MAX_BAD_PACKETS = 1000


class PacketSkips:
    """Counts the packets :func:`decode_skipping` could not decode, and keeps the first error."""

    def __init__(self) -> None:
        self.count = 0
        self.in_a_row = 0
        self.first: Exception | None = None

    def warn(self, path: Path) -> None:
        """Log one warning when packets were skipped."""
        if self.count:
            _log.warning("%s: skipped %d undecodable video packet(s) (%s)", path, self.count,
                         self.first)


def decode_skipping(container: InputContainer, stream: VideoStream, skips: PacketSkips
                    ) -> Iterator[VideoFrame]:
    """The frames of ``stream``, decoded packet by packet. A packet the decoder refuses is
    skipped and counted in ``skips`` (as FFmpeg's own tools do), so a video whose first key
    frame is damaged still gives the frames after the next one; ``MAX_BAD_PACKETS`` refusals in
    a row raise the last error. Errors of the container itself (a cut file) are raised."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError) as exc:
            if isinstance(exc, av.error.DecoderNotFoundError):
                raise
            skips.count += 1
            skips.in_a_row += 1
            skips.first = skips.first or exc
            if skips.in_a_row >= MAX_BAD_PACKETS:
                raise
            continue
        skips.in_a_row = 0
        yield from cast(list[VideoFrame], frames)


def _decode_first(container: InputContainer, stream: VideoStream, path: Path) -> VideoFrame:
    skips = PacketSkips()
    try:
        for frame in decode_skipping(container, stream, skips):
            return frame
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _decode_error(exc, path) from None
    if skips.first is not None:
        raise _decode_error(skips.first, path)
    raise TruncatedMediaError(f"no decodable video frames: {path}")


def _decode_error(exc: Exception, path: Path) -> InputError:
    """A stream that opened but fails to decode its first frame is corrupt (or unsupported)."""
    if isinstance(exc, (av.error.DecoderNotFoundError, OSError, MemoryError)):
        return map_av_error(exc, path)
    return TruncatedMediaError(f"no decodable video frames ({exc}): {path}")


def stream_duration(container: InputContainer, stream: av.stream.Stream) -> float | None:
    """Seconds of ``stream`` by its own header, else the container's; None when neither says."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _audio_info(container: InputContainer) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    audio = container.streams.audio[0]
    try:
        ctx = audio.codec_context
        codec, rate, channels = ctx.name, ctx.sample_rate, ctx.channels
    except Exception:  # no decoder: still report that there is audio
        codec, rate, channels = "unknown", 0, 0
    return AudioInfo(codec=codec, sample_rate=rate, channels=channels)


MIN_FPS, MAX_FPS = 0.01, 1000.0  # a frame every 100 s (slide shows) .. high-speed cameras


def plausible_fps(rate: Fraction | None) -> float | None:
    """``rate`` as a float, or None (unknown) when it is missing or outside ``MIN_FPS`` ..
    ``MAX_FPS``: a broken time scale or sample duration (an MP4 whose ``mdhd`` time scale is
    1, or whose ``stts`` deltas are 2^31) claims 5e-6 or 8e6 frames a second, which no encoder
    takes; readers of :class:`MediaInfo` fall back to their default rate (25) on None."""
    if not rate:
        return None
    fps = float(rate)
    return fps if MIN_FPS <= fps <= MAX_FPS else None


def probe_video(path: Path, max_pixels: int) -> MediaInfo:
    with open_video(path) as container:
        stream = video_stream(container, path, max_pixels)
        first = _decode_first(container, stream, path)
        turns, _ = _orientation(first, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        if turns % 2:
            width, height = height, width
        return MediaInfo(
            path=path, kind="video", width=width, height=height,
            fps=plausible_fps(stream.average_rate or stream.guessed_rate),
            frames=stream.frames or None, duration=stream_duration(container, stream),
            video_codec=stream.codec_context.name, container=container.format.name,
            rotation=(360 - 90 * turns) % 360, audio=_audio_info(container),
        )


def iter_video(
    container: InputContainer, stream: VideoStream, path: Path, every: int, start: int
) -> Iterator[Frame]:
    mid = media_id(path)
    time_base = stream.time_base or Fraction(1, 90_000)
    origin = stream.start_time or 0
    rate = plausible_fps(stream.average_rate or stream.guessed_rate) or 25.0
    expected = stream.frames
    reformatter = VideoReformatter()  # reused: keeps one swscale context for the whole clip
    pool = _ArrayPool()
    orient: Orientation | None = None
    index = 0
    timestamp = 0.0
    skips = PacketSkips()
    with container:
        frames = decode_skipping(container, stream, skips)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except (av.FFmpegError, OSError, ValueError) as exc:
                if index == 0:
                    raise _decode_error(exc, path) from None
                _log.warning("%s: stopped after %d decodable frames (%s)", path, index, exc)
                break
            if orient is None:
                orient = _orientation(frame, stream)
            if frame.pts is not None:
                timestamp = float((frame.pts - origin) * time_base)
            elif index:
                timestamp += float(1 / rate)
            if index >= start and index % every == 0:
                image = upright_rgb(frame, reformatter, pool, orient)
                yield Frame(ref=FrameRef(media_id=mid, index=index, timestamp=timestamp),
                            image=image)
            index += 1
    if index == 0:
        if skips.first is not None:
            raise _decode_error(skips.first, path)
        raise TruncatedMediaError(f"no decodable video frames: {path}")
    skips.warn(path)
    if expected and index < expected and not skips.count:  # skipped packets already explain it
        _log.warning("%s: the header lists %d frames, %d decoded (cut short?)",
                     path, expected, index)


def open_frames(
    path: Path, *, every: int, start: int, max_pixels: int, threads: int
) -> Iterator[Frame]:
    """Open and check the video at ``path`` now (errors raise here); decode lazily.

    ``threads`` is the decoder thread count (0 = FFmpeg's choice); ``every`` and ``start`` as in
    :func:`doppelab.core.media.iter_frames`.
    """
    container, stream = open_decoding(path, max_pixels, threads)
    return iter_video(container, stream, path, every, start)


def open_decoding(path: Path, max_pixels: int, threads: int
                  ) -> tuple[InputContainer, VideoStream]:
    """The opened container and its checked video stream, set up for threaded decoding
    (``threads``: the decoder thread count, 0 = FFmpeg's choice); the container is closed
    again when the stream is refused."""
    container = open_video(path)
    try:
        stream = video_stream(container, path, max_pixels)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
    except BaseException:
        container.close()
        raise
    return container, stream
