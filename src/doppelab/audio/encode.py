"""Audio output and codec round trips (PyAV's bundled FFmpeg encoders).

:func:`write_audio` writes a file atomically (temp + rename); :func:`codec_roundtrip` encodes and
decodes in memory, the augmentation that keeps a detector from using codec, bitrate or sample rate
as a cue (it is applied to real and fake audio alike).

Convention: input samples are ``(N,)`` (mono) or ``(C, N)`` float32 in [-1, 1]; they are clipped
to that range before encoding.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream

from doppelab.audio.decode import SamplesF32, _blocks, _Decoder, _source
from doppelab.core.errors import UsageError
from doppelab.core.storage import atomic_path

__all__ = ["CODECS", "Codec", "codec_roundtrip", "resample", "write_audio"]


@dataclass(frozen=True, slots=True)
class Codec:
    """An encoder in a container: ``format`` (FFmpeg muxer), ``codec``, its allowed rates."""

    format: str
    codec: str
    rates: tuple[int, ...] | None = None  # None: any rate


# suffix / name -> how to write it
CODECS: dict[str, Codec] = {
    "wav": Codec("wav", "pcm_s16le"),
    "flac": Codec("flac", "flac"),
    "mp3": Codec("mp3", "libmp3lame", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100,
                                       48000)),
    "m4a": Codec("ipod", "aac"),
    "aac": Codec("adts", "aac"),
    "ogg": Codec("ogg", "libopus", (8000, 12000, 16000, 24000, 48000)),
    "opus": Codec("ogg", "libopus", (8000, 12000, 16000, 24000, 48000)),
    "vorbis": Codec("ogg", "libvorbis"),
    "webm": Codec("webm", "libopus", (8000, 12000, 16000, 24000, 48000)),
    "mulaw": Codec("wav", "pcm_mulaw", (8000,)),
}
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def _as_channels(samples: SamplesF32) -> np.ndarray:
    arr = np.asarray(samples, np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] not in _LAYOUTS:
        raise UsageError(f"samples must be (N,) or (C, N) with C in 1, 2, 6; got {arr.shape}")
    return np.ascontiguousarray(np.clip(arr, -1.0, 1.0))


def _encode(target: str | Path | io.BytesIO, arr: np.ndarray, rate: int, spec: Codec,
            bitrate: int | None) -> None:
    layout = _LAYOUTS[arr.shape[0]]
    with av.open(target, "w", format=spec.format) as out:
        stream = out.add_stream(spec.codec, rate=rate, layout=layout)
        assert isinstance(stream, AudioStream)
        if bitrate:
            stream.bit_rate = bitrate
        hop = 4096
        for start in range(0, arr.shape[1], hop):
            frame = av.AudioFrame.from_ndarray(arr[:, start:start + hop], format="fltp",
                                               layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _spec(kind: str, rate: int) -> Codec:
    if kind not in CODECS:
        raise UsageError(f"unknown audio format {kind!r}; known: {', '.join(sorted(CODECS))}")
    spec = CODECS[kind]
    if spec.rates is not None and rate not in spec.rates:
        raise UsageError(f"{kind} cannot store {rate} Hz (allowed: {spec.rates})")
    return spec


def write_audio(path: str | Path, samples: SamplesF32, sample_rate: int, *,
                kind: str | None = None, bitrate: int | None = None) -> Path:
    """Encode ``samples`` to ``path`` atomically; ``kind`` defaults to the suffix (wav, mp3...).

    Raises:
        UsageError: unknown kind, a rate the codec cannot store, bad sample shape.
        OutputError: the file cannot be written.
    """
    p = Path(path)
    spec = _spec(kind or p.suffix.lower().lstrip("."), sample_rate)
    arr = _as_channels(samples)
    with atomic_path(p) as tmp:
        _encode(tmp, arr, sample_rate, spec, bitrate)
    return p


def codec_roundtrip(samples: SamplesF32, sample_rate: int, kind: str, *,
                    bitrate: int | None = None, codec_rate: int | None = None) -> SamplesF32:
    """Encode mono ``samples`` as ``kind`` at ``codec_rate`` (default: ``sample_rate``) and decode
    them back to ``sample_rate`` (in memory). Shape: (M,) float32, M within a codec frame of N
    (encoder delay is kept: codecs shift audio by a few ms, as real files do)."""
    rate = codec_rate or sample_rate
    spec = _spec(kind, rate)
    arr = _as_channels(samples)
    if rate != sample_rate:
        arr = _resample(arr[0], sample_rate, rate)[None, :]
    buf = io.BytesIO()
    _encode(buf, arr, rate, spec, bitrate)
    buf.seek(0)
    return _decode_bytes(buf, sample_rate)


def _decode_bytes(buf: io.BytesIO, sample_rate: int) -> SamplesF32:
    container = av.open(buf, "r")
    path = Path("<memory>")
    blocks = _blocks(_Decoder(container, path, sample_rate), _source(container, path), 1 << 30,
                     None)
    return np.concatenate([b.samples for b in blocks]).astype(np.float32)


def _resample(samples: SamplesF32, rate_in: int, rate_out: int) -> SamplesF32:
    """Polyphase resampling (scipy), used for band-limiting round trips such as 8 kHz."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(samples, rate_out // g, rate_in // g).astype(np.float32)


def resample(samples: SamplesF32, rate_in: int, rate_out: int) -> SamplesF32:
    """Public resampler: ``(N,)`` at ``rate_in`` -> ``(M,)`` at ``rate_out`` (polyphase)."""
    if rate_in <= 0 or rate_out <= 0:
        raise UsageError(f"rates must be positive, got {rate_in}, {rate_out}")
    return samples if rate_in == rate_out else _resample(samples, rate_in, rate_out)

