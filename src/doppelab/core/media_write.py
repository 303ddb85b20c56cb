"""Media output: atomic image files and an atomic video writer that can carry the source's audio.

Convention: input images are ``(H, W, 3)`` uint8 RGB. Every output is written to a temporary
sibling and renamed into place only when complete (:mod:`doppelab.core.storage`), so a failed or
interrupted write never leaves a file at the final path.

Audio (``VideoWriter(audio_from=...)``): the first audio stream of the source is stream-copied
when its codec is allowed in the output container (e.g. AAC into MP4/MOV/MKV, Opus/Vorbis into
WebM), otherwise re-encoded (AAC; Opus for WebM). It is aligned so that the source's video start
is t=0 (the same origin :func:`doppelab.core.media.iter_frames` uses for timestamps) and trimmed
to the written video's duration at audio-packet granularity (at most one packet, ~20-40 ms, runs
past the last video frame). A source without audio gives a silent video; an audio stream that
breaks mid-way is cut there with a logged warning.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream
from PIL import Image

from doppelab.core.errors import DoppelabError, OutputError, UsageError
from doppelab.core.media_audio import is_unordered, mean_mono
from doppelab.core.media_video import MAX_FPS, MIN_FPS, open_video
from doppelab.core.storage import atomic_path
from doppelab.core.types import ImageU8

_log = logging.getLogger(__name__)
_Packet = Any  # av.packet.Packet: generic in PyAV >= 17 stubs, plain before; both supported

_IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}

# Audio codecs that may be stream-copied into each output container (None: any codec).
_AUDIO_COPY: dict[str, frozenset[str] | None] = {
    ".mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3"}),
    ".m4v": frozenset({"aac", "mp3", "alac", "ac3", "eac3"}),
    ".mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be",
                       "pcm_s24le", "pcm_f32le"}),
    ".mkv": None,
    ".webm": frozenset({"opus", "vorbis"}),
    ".avi": frozenset({"mp3", "ac3", "aac", "pcm_s16le"}),
}
# Native channel order for a channel count (sources may declare only a count).
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_CRF_CODECS = frozenset({"libx264", "libx265", "libsvtav1", "libvpx-vp9"})
_FASTSTART = frozenset({".mp4", ".m4v", ".mov"})


def _check_image(image: ImageU8, shape: tuple[int, int] | None = None) -> None:
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 \
        and image.shape[2] == 3
    if not ok:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image)
        raise UsageError(f"expected an (H, W, 3) uint8 RGB image, got {got}")
    if shape is not None and image.shape[:2] != shape:
        raise UsageError(f"expected an image of {shape[1]}x{shape[0]}, "
                         f"got {image.shape[1]}x{image.shape[0]}")


def conform_frame(image: ImageU8, size: tuple[int, int]) -> ImageU8:
    """``image`` fitted to ``size`` (height, width) for a writer that takes one size of even
    sides (H.264 4:2:0): a frame of another size (a stream that changes resolution midway) is
    scaled to fit and centred on black, keeping its aspect ratio; an odd side is then padded by
    one copied edge row or column (513x291 -> 514x292). A frame already fitting is returned
    as it is.

    Shape: ``(H, W, 3)`` uint8 RGB in, ``(size[0] + size[0] % 2, size[1] + size[1] % 2, 3)``
    out.
    """
    h, w = size
    if image.shape[:2] != (h, w):
        scale = min(h / image.shape[0], w / image.shape[1])
        nh = max(1, min(h, round(image.shape[0] * scale)))
        nw = max(1, min(w, round(image.shape[1] * scale)))
        fitted = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
            (nw, nh), Image.Resampling.BILINEAR))
        canvas = np.zeros((h, w, 3), np.uint8)
        top, left = (h - nh) // 2, (w - nw) // 2
        canvas[top:top + nh, left:left + nw] = fitted
        image = canvas
    if h % 2 or w % 2:
        image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return image


def write_image(path: str | Path, image: ImageU8, *, quality: int = 95) -> None:
    """Write an RGB image atomically; the suffix picks JPEG, PNG, WebP or BMP.

    Shape: ``image`` is ``(H, W, 3)`` uint8 RGB. ``quality`` (1-100) applies to JPEG and WebP.

    Raises:
        UsageError: unknown suffix, bad array or quality. OutputError: cannot write.
    """
    p = Path(path)
    fmt = _IMAGE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise UsageError(f"unknown image suffix {p.suffix!r} (use one of "
                         f"{', '.join(sorted(_IMAGE_FORMATS))}): {p}")
    _check_image(image)
    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be in 1..100, got {quality}")
    options: dict[str, int] = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    picture = Image.fromarray(np.ascontiguousarray(image))
    with atomic_path(p) as tmp:
        try:
            picture.save(tmp, format=fmt, **options)
        except (ValueError, KeyError) as exc:
            raise OutputError(f"cannot encode {fmt} ({exc}): {p}") from None


def _time_base(rate: Fraction) -> Fraction:
    """About 60 kHz (MPEG-4 Part 2 allows at most 65535), a whole number of ticks per frame."""
    return Fraction(1, rate.numerator * max(1, 60_000 // rate.numerator))


def _add_audio_output(
    out: OutputContainer, source: AudioStream, suffix: str
) -> tuple[AudioStream, bool]:
    """The output audio stream and whether it is a stream copy (else re-encoded)."""
    allowed = _AUDIO_COPY.get(suffix, frozenset())
    if allowed is None or source.codec_context.name in allowed:
        return out.add_stream_from_template(source), True
    target = "libopus" if suffix == ".webm" else "aac"
    rate = 48_000 if target == "libopus" else source.codec_context.sample_rate
    stream = out.add_stream(target, rate=rate)
    assert isinstance(stream, AudioStream)
    ctx = source.codec_context
    channels = min(ctx.channels or 2, 2 if target == "libopus" else 8)
    if is_unordered(ctx.layout.name, ctx.channels):  # e.g. 32 channels: re-encoded as mono
        channels = 1
    stream.codec_context.layout = _LAYOUTS.get(channels, "stereo")
    return stream, False


def _origin(source: InputContainer, audio: AudioStream, time_base: Fraction) -> int:
    """The source's video start (else its audio start) in ``time_base`` ticks."""
    videos = source.streams.video
    if videos and videos[0].start_time is not None and videos[0].time_base:
        return round(videos[0].start_time * videos[0].time_base / time_base)
    return audio.start_time or 0


class _AudioMux:
    """Copies (or re-encodes) the first audio stream of ``source`` into ``out``, interleaved."""

    def __init__(self, source: InputContainer, out: OutputContainer, suffix: str) -> None:
        self.source = source
        self.out = out
        self.input: AudioStream = source.streams.audio[0]
        self.output, self.copy = _add_audio_output(out, self.input, suffix)
        self.time_base = self.input.time_base or Fraction(1, self.input.codec_context.sample_rate)
        self.offset = _origin(source, self.input, self.time_base)
        # MP4/MOV/MKV/WebM keep a negative-pts pre-roll packet (AAC priming, Opus pre-skip)
        # through edit lists or a shift of all streams; AVI would insert a dropped video frame.
        self.negative_ok = suffix != ".avi"
        self.packets = source.demux(self.input)
        self.pending: _Packet | None = None
        self.preroll: _Packet | None = None
        self.done = False
        self.last_pts: int | None = None  # of the last packet muxed (source ticks)
        self.backwards = 0  # packets dropped because their time went back

    def _mux(self, packets: list[_Packet]) -> None:
        for packet in packets:
            if self.negative_ok or packet.pts is None or packet.pts >= 0:
                self.out.mux(packet)

    def _next(self) -> _Packet | None:
        if self.pending is not None:
            packet, self.pending = self.pending, None
            return packet
        try:
            for packet in self.packets:
                if packet.pts is not None and packet.size:
                    return packet
        except (av.FFmpegError, OSError, ValueError) as exc:
            _log.warning("audio source %s broke off (%s); audio cut there", self.source.name, exc)
        self.done = True
        return None

    def pump(self, until: float) -> None:
        """Mux source audio whose start time (output clock, seconds) is before ``until``."""
        while not self.done:
            packet = self._next()
            if packet is None:
                return
            assert packet.pts is not None
            start = float((packet.pts - self.offset) * self.time_base)
            if start >= until:
                self.pending = packet
                return
            if start < 0:  # before the video start: keep only the last one, as decoder pre-roll
                self.preroll = packet  # (e.g. AAC priming, which sits at a negative pts)
                continue
            if self.last_pts is not None and packet.pts <= self.last_pts:
                # time went back (streams glued together, a broken muxer): a muxer refuses
                # non-increasing timestamps, so the packet is dropped (counted, logged once)
                self.backwards += 1
                continue
            if self.preroll is not None:
                self._emit(self.preroll)
                self.preroll = None
            self.last_pts = packet.pts
            self._emit(packet)

    def _emit(self, packet: _Packet) -> None:
        assert packet.pts is not None
        if self.copy:
            packet.pts -= self.offset
            if packet.dts is not None:
                packet.dts -= self.offset
            packet.stream = self.output
            self._mux([packet])
            return
        try:
            frames = self.input.codec_context.decode(packet)
        except (av.FFmpegError, ValueError) as exc:
            _log.warning("undecodable audio packet in %s skipped (%s)", self.source.name, exc)
            return
        for frame in frames:
            if is_unordered(frame.layout.name, frame.layout.nb_channels):
                frame = mean_mono(frame)  # the encoder's resampler cannot downmix it
            if frame.pts is not None:
                frame.pts -= self.offset
            self._mux(self.output.encode(frame))

    def finish(self, end: float) -> None:
        """Mux the audio up to ``end`` seconds, flush the encoder and close the source."""
        self.pump(end)
        if not self.copy:
            self._mux(self.output.encode(None))
        self.source.close()
        if self.backwards:
            _log.warning("%s: %d audio packet(s) whose time went back were dropped",
                         self.source.name, self.backwards)


class VideoWriter:
    """Atomic video writer: frames go to a temporary sibling renamed into place on a clean exit.

    Use as a context manager. On an exception inside the ``with`` block (or while finishing, or
    when no frame was written) the temporary file is deleted and nothing appears at ``path``.
    ``write(image, timestamp)`` keeps variable-frame-rate timing when timestamps (seconds,
    increasing) are given; without one a frame lands ``1 / fps`` after the previous one. AVI
    stores no timestamps: there they snap to the ``1 / fps`` grid. ``audio_from``: see the
    module docstring.

    Shape: every image is ``(height, width, 3)`` uint8 RGB.

    Raises:
        UsageError: bad parameters, frames or timestamps. OutputError: cannot encode or write.
        InputError subclasses: ``audio_from`` is unreadable.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float,
        width: int,
        height: int,
        codec: str = "libx264",
        crf: int = 18,
        pix_fmt: str = "yuv420p",
        audio_from: str | Path | None = None,
        preset: str = "veryfast",
    ) -> None:
        if not MIN_FPS <= fps <= MAX_FPS or width <= 0 or height <= 0:  # see plausible_fps
            raise UsageError(f"need {MIN_FPS:g} <= fps <= {MAX_FPS:g} and a positive size, got "
                             f"{fps} fps {width}x{height}")
        if pix_fmt in ("yuv420p", "nv12", "yuvj420p") and (width % 2 or height % 2):
            raise UsageError(f"{pix_fmt} needs an even width and height, got {width}x{height}")
        self.path = Path(path)
        self.fps = fps
        self.width = width
        self.height = height
        self.codec = codec
        self.crf = crf
        self.preset = preset  # x264/x265 speed preset: "veryfast" is ~4x "medium" at CRF 18
        self.pix_fmt = pix_fmt
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.rate = Fraction(fps).limit_denominator(1001)
        # AVI cannot store timestamps (constant frame rate): there they snap to the frame grid.
        cfr = self.path.suffix.lower() == ".avi"
        self.time_base = 1 / self.rate if cfr else _time_base(self.rate)
        self.frame_ticks = round(1 / (self.rate * self.time_base))
        self._stack: contextlib.ExitStack | None = None
        self._out: OutputContainer | None = None
        self._video: VideoStream | None = None
        self._audio: _AudioMux | None = None
        self._last_pts: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        if self._stack is not None:
            raise UsageError(f"VideoWriter is already open: {self.path}")
        source = self._open_audio_source()
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_path(self.path))
            self._out = self._open_output(tmp)
            self._video = self._add_video(self._out)
            if source is not None:
                self._audio = _AudioMux(source, self._out, self.path.suffix.lower())
        except BaseException as exc:
            self._close_quietly(source)
            if isinstance(exc, (av.FFmpegError, ValueError)):
                wrapped = OutputError(f"cannot set up {self.codec} video output ({exc}): "
                                      f"{self.path}")
                stack.__exit__(OutputError, wrapped, None)
                raise wrapped from None
            stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack = stack
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if exc is None:
            try:
                self._finish()
            except BaseException as err:
                self._abort()
                error = err if isinstance(err, DoppelabError) else OutputError(
                    f"cannot finish writing ({err}): {self.path}")
                stack.__exit__(type(error), error, error.__traceback__)
                if error is err:
                    raise
                raise error from None
            stack.__exit__(None, None, None)
        else:
            self._abort()
            stack.__exit__(exc_type, exc, tb)

    def close(self) -> None:
        """Finish and rename into place (same as leaving the ``with`` block without error)."""
        self.__exit__(None, None, None)

    # -- frames ---------------------------------------------------------------------------------

    def write(self, image: ImageU8, timestamp: float | None = None) -> None:
        """Encode one frame at ``timestamp`` seconds (default: previous + 1 / fps)."""
        if self._out is None or self._video is None or self._stack is None:
            raise UsageError(f"VideoWriter is not open (use it in a with block): {self.path}")
        _check_image(image, (self.height, self.width))
        if timestamp is None:
            pts = 0 if self._last_pts is None else self._last_pts + self.frame_ticks
        else:
            pts = round(timestamp / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            raise UsageError(f"timestamps must increase: {float(pts * self.time_base):.6f}s "
                             f"after {float(self._last_pts * self.time_base):.6f}s")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        try:
            self._out.mux(self._video.encode(frame))
            if self._audio is not None:
                self._audio.pump(float(pts * self.time_base))
        except av.FFmpegError as exc:
            raise OutputError(f"cannot encode frame ({exc}): {self.path}") from None
        self._last_pts = pts

    # -- internals ------------------------------------------------------------------------------

    def _open_audio_source(self) -> InputContainer | None:
        if self.audio_from is None:
            return None
        source = open_video(Path(self.audio_from))
        if not source.streams.audio:
            _log.info("no audio stream in %s; writing a silent video", self.audio_from)
            source.close()
            return None
        if source.streams.audio[0].codec_context is None:  # no codec known: nothing to copy
            _log.info("the audio track of %s has no codec description (damaged header?); "
                      "writing a silent video", self.audio_from)
            source.close()
            return None
        return source

    def _open_output(self, tmp: Path) -> OutputContainer:
        suffix = self.path.suffix.lower()
        options = {"movflags": "+faststart"} if suffix in _FASTSTART else {}
        try:
            return av.open(str(tmp), "w", container_options=options)
        except ValueError as exc:
            raise UsageError(f"unknown video container for suffix {suffix!r}: {self.path}") \
                from exc

    def _add_video(self, out: OutputContainer) -> VideoStream:
        options = {"crf": str(self.crf)} if self.codec in _CRF_CODECS else {}
        if self.codec == "libvpx-vp9":
            options["b"] = "0"
        if self.codec in ("libx264", "libx265"):
            options["preset"] = self.preset
        try:
            stream = out.add_stream(self.codec, rate=self.rate, options=options)
        except (av.FFmpegError, ValueError) as exc:
            raise UsageError(f"unknown or unusable video codec {self.codec!r} ({exc})") from None
        assert isinstance(stream, VideoStream)
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = self.pix_fmt
        stream.codec_context.time_base = self.time_base
        return stream

    def _finish(self) -> None:
        assert self._out is not None and self._video is not None
        if self._last_pts is None:
            raise UsageError(f"no frames were written, so no video was made: {self.path}")
        try:
            self._out.mux(self._video.encode(None))
            if self._audio is not None:
                end = (self._last_pts + self.frame_ticks) * self.time_base
                self._audio.finish(float(end))
        finally:
            self._out.close()

    def _abort(self) -> None:
        if self._audio is not None:
            self._close_quietly(self._audio.source)
        self._close_quietly(self._out)

    @staticmethod
    def _close_quietly(container: InputContainer | OutputContainer | None) -> None:
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
