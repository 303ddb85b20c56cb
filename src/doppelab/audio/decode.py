"""Audio input: decode the audio track of any file PyAV opens to mono float32 at one rate.

Convention: samples are ``(N,)`` float32 in roughly [-1, 1] (full scale 1.0), mono, at
``sample_rate`` (16 kHz unless asked otherwise). Any input rate, sample format and channel
layout (mono to 5.1 and beyond) goes through FFmpeg's resampler, which downmixes to mono with
the standard matrix; frames that are already mono at the target rate (16 kHz FLAC or WAV) skip
the resampler and are scaled exactly as its converter would. Time 0 is the first decoded sample
(``timestamps=True``: the start of the video, with the audio frames' own timestamps).

Streaming and memory: :func:`iter_audio_blocks` decodes packet by packet and yields fixed-length
blocks, so a two-hour file is scored with a few blocks in memory; :func:`load_audio` collects
blocks up to ``max_seconds`` (the rest is not decoded and ``AudioClip.truncated`` is set).

Damage: NaN and infinite samples (float WAVs) are read as 0 (one logged warning gives the
count); a packet that fails to decode in the middle of a stream is skipped (one logged warning
per decoding pass gives the count and the first error; ``AudioClip.skipped_packets`` counts
them, the audio is joined across the gap); a stream where nothing decodes, or whose header
claims a sample rate under ``MIN_SAMPLE_RATE``, raises
:class:`~doppelab.core.errors.TruncatedMediaError`.

Errors (typed, one line, naming the path): missing/unreadable/empty file -> ``FileAccessError`` /
``EmptyFileError``; not media -> ``NotMediaError``; media without an audio stream ->
:class:`NoAudioError` (a "nothing found" error, exit code 4); no decoder ->
``UnsupportedCodecError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.container import InputContainer

from doppelab.core.errors import (
    NothingFoundError,
    NotMediaError,
    TruncatedMediaError,
    UnsupportedCodecError,
    UsageError,
)
from doppelab.core.media import check_readable
from doppelab.core.media_audio import is_unordered, mean_mono
from doppelab.core.media_video import real_video_streams, stream_duration

__all__ = [
    "SAMPLE_RATE", "AudioClip", "AudioSource", "NoAudioError", "is_audio_only",
    "iter_audio_blocks", "load_audio", "probe_audio",
]

SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 1_000  # below this a header is damaged, not audio (telephone speech is 8 kHz)
_MAX_SKIPPED = 10_000  # more undecodable packets than this: give up on the rest of the stream
_log = logging.getLogger(__name__)

SamplesF32 = npt.NDArray[np.float32]


class NoAudioError(NothingFoundError):
    """A readable media file without an audio stream (e.g. a silent video)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioSource:
    """What the container says about the audio stream that was decoded."""

    path: Path
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float | None  # seconds from the header, None when it does not say


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioClip:
    """Decoded mono audio. Shape: ``samples`` (N,) float32 at ``sample_rate``.

    ``offset`` is the time of ``samples[0]`` in the source (seconds); ``gain_db`` the gain that
    loudness normalisation applied (0 when none); ``truncated`` is True when ``max_seconds``
    stopped decoding before the end; ``skipped_packets`` counts undecodable packets.
    """

    samples: SamplesF32
    sample_rate: int
    source: AudioSource | None = None
    offset: float = 0.0
    gain_db: float = 0.0
    truncated: bool = False
    skipped_packets: int = 0

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError(f"samples must be (N,) float32, got {self.samples.shape} "
                             f"{self.samples.dtype}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def with_samples(self, samples: SamplesF32, *, gain_db: float | None = None) -> AudioClip:
        """A copy with other samples (same rate and source), optionally another ``gain_db``."""
        return replace(self, samples=np.ascontiguousarray(samples, np.float32),
                       gain_db=self.gain_db if gain_db is None else gain_db)


def _open(path: Path) -> InputContainer:
    check_readable(path)
    try:
        return av.open(str(path), "r", metadata_errors="replace")
    except av.error.DecoderNotFoundError:
        raise UnsupportedCodecError(f"no decoder in the bundled FFmpeg: {path}") from None
    except (av.FFmpegError, UnicodeError, ValueError) as exc:
        raise NotMediaError(f"not an audio or video file ({type(exc).__name__}): {path}") from None
    except OSError as exc:
        raise NotMediaError(f"cannot open as media ({exc.strerror or exc}): {path}") from None


def _source(container: InputContainer, path: Path) -> AudioSource:
    streams = container.streams.audio
    if not streams:
        raise NoAudioError(f"no audio track: {path}")
    stream = streams[0]
    try:
        ctx = stream.codec_context
        codec, rate, channels = ctx.name, int(ctx.sample_rate or 0), int(ctx.channels or 0)
    except Exception:
        raise UnsupportedCodecError(f"no decoder for the audio codec: {path}") from None
    if 0 < rate < MIN_SAMPLE_RATE:  # a damaged header: hours of "audio" from a few kilobytes
        raise TruncatedMediaError(f"implausible sample rate {rate} Hz in the header (corrupt?): "
                                  f"{path}")
    return AudioSource(path=path, container=container.format.name, codec=codec,
                       sample_rate=rate, channels=channels,
                       duration=stream_duration(container, stream))


def probe_audio(path: str | Path) -> AudioSource:
    """Describe the first audio stream of ``path`` without decoding it.

    Raises:
        NoAudioError: the file has no audio stream.
        FileAccessError, EmptyFileError, NotMediaError, UnsupportedCodecError: see module doc.
    """
    p = Path(path)
    with _open(p) as container:
        return _source(container, p)


def is_audio_only(path: str | Path) -> bool:
    """True when ``path`` opens as media with an audio stream and no video stream (cover art
    does not count as video). Raises the errors of :func:`probe_audio` except ``NoAudioError``
    (a file without audio is simply not audio-only)."""
    p = Path(path)
    with _open(p) as container:
        return bool(container.streams.audio) and not real_video_streams(container)


# Formats whose mono samples become float32 by one exact scale, as FFmpeg's converter does it
# (int16 * 2^-15, int32 * 2^-31, float as is): frames already mono at the target rate skip the
# resampler (FLAC, WAV and most 16 kHz speech).
_DIRECT: dict[str, tuple[type[np.generic], float]] = {
    "s16": (np.int16, 2.0 ** -15), "s16p": (np.int16, 2.0 ** -15),
    "s32": (np.int32, 2.0 ** -31), "s32p": (np.int32, 2.0 ** -31),
    "flt": (np.float32, 1.0), "fltp": (np.float32, 1.0),
}


class _Decoder:
    """Packets -> resampled mono float32 chunks, skipping packets that fail to decode.

    With ``timestamps``, silence fills every forward gap between the frames' timestamps and
    ``start`` is the first frame's time on the timeline of the first video stream (see
    :func:`iter_audio_blocks`)."""

    def __init__(self, container: InputContainer, path: Path, sample_rate: int,
                 timestamps: bool = False) -> None:
        self.container = container
        self.stream = container.streams.audio[0]
        self.path = path
        self.rate = sample_rate
        self.resampler: AudioResampler | None = None
        self.in_format: tuple[str, str, int] | None = None
        self.skipped = 0
        self.nonfinite = 0
        self.timestamps = timestamps
        self.origin = _video_origin(container) if timestamps else 0.0
        self.start: float | None = None
        self.produced = 0

    def _direct(self, frame: AudioFrame) -> SamplesF32 | None:
        kind = _DIRECT.get(frame.format.name)
        if kind is None or frame.sample_rate != self.rate or frame.layout.nb_channels != 1:
            return None
        data = np.frombuffer(memoryview(frame.planes[0]), kind[0], frame.samples)  # no copy
        samples = data.astype(np.float32)  # a copy: the frame's buffer is not kept
        return samples if kind[1] == 1.0 else samples * np.float32(kind[1])

    def _flush(self) -> list[SamplesF32]:
        """What the current resampler still holds; drops it."""
        if self.resampler is None:
            return []
        out = [f.to_ndarray().reshape(-1).astype(np.float32, copy=False)
               for f in self.resampler.resample(None)]
        self.resampler, self.in_format = None, None
        return out

    def _resample(self, frame: AudioFrame) -> list[SamplesF32]:
        if is_unordered(frame.layout.name, frame.layout.nb_channels):
            frame = mean_mono(frame)  # FFmpeg has no downmix matrix for it (e.g. 32 channels)
        direct = self._direct(frame)
        if direct is not None:
            return [*self._flush(), direct]
        out: list[SamplesF32] = []
        fmt = (frame.format.name, frame.layout.name, frame.sample_rate)
        if fmt != self.in_format:  # the stream changed rate or layout: a new resampler
            out = self._flush()
            self.resampler = AudioResampler(format="flt", layout="mono", rate=self.rate)
            self.in_format = fmt
        assert self.resampler is not None
        out += [f.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                for f in self.resampler.resample(frame)]
        return out

    def _gap(self, frame: AudioFrame) -> SamplesF32 | None:
        """Silence up to ``frame``'s timestamp (timestamps mode), None when there is no gap."""
        if frame.pts is None or frame.time_base is None:
            return None
        t = float(Fraction(frame.pts) * frame.time_base) - self.origin
        if self.start is None:
            self.start = t
        at = round((t - self.start) * self.rate)
        return np.zeros(at - self.produced, np.float32) if at > self.produced else None

    def _frame_chunks(self, frame: AudioFrame) -> list[SamplesF32]:
        out = self._resample(frame)
        if self.timestamps:
            gap = self._gap(frame)
            if gap is not None:
                out.insert(0, gap)
            self.produced += sum(len(c) for c in out)
        return out

    def chunks(self) -> Iterator[SamplesF32]:
        """Every decoded sample, in order, as chunks of any length.

        Undecodable packets are skipped and counted; one warning line per pass names their
        count and the first one's error (a badly damaged file must not print a line a packet),
        unless nothing decoded at all: the caller's error then gives the count, alone.
        """
        first: Exception | None = None
        decoded = False
        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                except (av.FFmpegError, ValueError) as exc:
                    self.skipped += 1
                    first = first or exc
                    if self.skipped > _MAX_SKIPPED:
                        break
                    continue
                for frame in frames:
                    if isinstance(frame, AudioFrame):
                        decoded = True
                        yield from map(self._finite, self._frame_chunks(frame))
            yield from map(self._finite, self._flush())
        finally:
            if first is not None and decoded:  # nothing decoded: the caller's error says it
                _log.warning("%s: skipped %d undecodable audio packet(s) (first: %s)",
                             self.path, self.skipped, first)
            if self.nonfinite:
                _log.warning("%s: %d NaN or infinite audio sample(s) read as silence",
                             self.path, self.nonfinite)

    def _finite(self, chunk: SamplesF32) -> SamplesF32:
        """``chunk`` with NaN and infinite samples (a float file's bad data, which the
        resampler spreads to their neighbours) set to 0, counted in ``nonfinite``."""
        bad = ~np.isfinite(chunk)
        if bad.any():
            self.nonfinite += int(bad.sum())
            chunk = np.where(bad, np.float32(0), chunk)
        return chunk


def _video_origin(container: InputContainer) -> float:
    """Start time (seconds) of the first video stream, 0 when there is none or it is unknown."""
    for stream in container.streams.video:
        if stream.start_time is not None and stream.time_base:
            return float(stream.start_time * stream.time_base)
    return 0.0


def iter_audio_blocks(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    block_seconds: float = 60.0,
    max_seconds: float | None = None,
    timestamps: bool = False,
) -> Iterator[AudioClip]:
    """Stream the first audio track of ``path`` as consecutive blocks (bounded memory).

    Every block but the last holds exactly ``block_seconds`` (no loudness normalisation here).
    The file is opened and checked by this call; decoding happens while iterating.

    ``timestamps`` puts the audio on the video's own timeline: the audio frames' timestamps are
    respected (a forward gap between them is filled with silence, so a track re-timed in the
    container reads as re-timed) and ``AudioClip.offset`` is the time of the block's first
    sample counted from the start of the first video stream (from the container's time 0 when
    there is no video). Without it, time 0 is the first decoded sample.

    Raises:
        UsageError: non-positive ``sample_rate``, ``block_seconds`` or ``max_seconds``.
        NoAudioError, FileAccessError, EmptyFileError, NotMediaError, UnsupportedCodecError:
            on the call; ``TruncatedMediaError`` while iterating when nothing decodes.
    """
    if sample_rate <= 0 or block_seconds <= 0 or (max_seconds is not None and max_seconds <= 0):
        raise UsageError(f"need sample_rate, block_seconds, max_seconds > 0 (got {sample_rate}, "
                         f"{block_seconds}, {max_seconds})")
    p = Path(path)
    container = _open(p)
    try:
        source = _source(container, p)
    except BaseException:
        container.close()
        raise
    block = max(1, round(block_seconds * sample_rate))
    limit = None if max_seconds is None else max(1, round(max_seconds * sample_rate))
    decoder = _Decoder(container, p, sample_rate, timestamps)
    return _blocks(decoder, source, block, limit)


def _blocks(decoder: _Decoder, source: AudioSource, block: int, limit: int | None
            ) -> Iterator[AudioClip]:
    container, path, rate = decoder.container, decoder.path, decoder.rate
    pending: list[SamplesF32] = []
    held = emitted = 0
    truncated = False
    with container:
        for chunk in decoder.chunks():
            if limit is not None and emitted + held + len(chunk) >= limit:
                chunk = chunk[: limit - emitted - held]
                truncated = True
            pending.append(chunk)
            held += len(chunk)
            while held >= block:
                joined = np.concatenate(pending)
                yield AudioClip(samples=np.ascontiguousarray(joined[:block]), sample_rate=rate,
                                source=source, offset=(decoder.start or 0.0) + emitted / rate,
                                skipped_packets=decoder.skipped)
                pending, held, emitted = [joined[block:]], held - block, emitted + block
            if truncated:
                break
    if emitted + held == 0:
        raise TruncatedMediaError(f"no decodable audio ({decoder.skipped} bad packets): {path}")
    if held:
        yield AudioClip(samples=np.ascontiguousarray(np.concatenate(pending)), sample_rate=rate,
                        source=source, offset=(decoder.start or 0.0) + emitted / rate,
                        truncated=truncated, skipped_packets=decoder.skipped)


def load_audio(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    normalize: bool = True,
    timestamps: bool = False,
) -> AudioClip:
    """Decode the first audio track of ``path`` to one mono clip.

    Shape: ``samples`` (N,) float32 at ``sample_rate``, N <= ``max_seconds * sample_rate``.
    ``normalize`` applies :func:`doppelab.audio.loudness.normalize_loudness` (gated RMS to
    -23 dBFS); ``timestamps`` places the clip on the video's timeline (``offset``, see
    :func:`iter_audio_blocks`). Raises what :func:`iter_audio_blocks` raises.

    Example:
        >>> clip = load_audio("talk.mp4", max_seconds=600)       # doctest: +SKIP
        >>> clip.sample_rate, clip.samples.dtype                  # doctest: +SKIP
        (16000, dtype('float32'))
    """
    from doppelab.audio.loudness import normalize_loudness

    blocks = list(iter_audio_blocks(path, sample_rate=sample_rate, block_seconds=60.0,
                                    max_seconds=max_seconds, timestamps=timestamps))
    samples = np.concatenate([b.samples for b in blocks]) if len(blocks) > 1 else blocks[0].samples
    clip = AudioClip(samples=np.ascontiguousarray(samples, np.float32), sample_rate=sample_rate,
                     source=blocks[0].source, offset=blocks[0].offset,
                     truncated=blocks[-1].truncated, skipped_packets=blocks[-1].skipped_packets)
    return normalize_loudness(clip) if normalize else clip
