"""Voice activity: Silero VAD (the ONNX model inside the ``silero-vad`` wheel) on 16 kHz audio.

The sequence export of the model runs its LSTM over a whole block of 32 ms frames in one
onnxruntime call (each frame is 512 new samples prefixed by the last 64 of the previous frame),
so an hour of audio costs a few hundred calls rather than 110,000; the graph is run in the GEMM
layout of :mod:`doppelab.audio.silero` (same weights and operations, about 4x faster).
Probabilities become segments with a hysteresis state machine: speech starts above
``threshold``, ends after ``min_silence`` seconds below ``threshold - 0.15``; segments shorter
than ``min_speech`` are dropped and every segment is padded by ``pad`` seconds on each side
(clipped to the clip).

Convention: segment times are seconds from the start of the clip (``AudioClip.offset`` is *not*
added; :func:`shift` does that).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doppelab.audio.decode import SAMPLE_RATE, AudioClip, SamplesF32
from doppelab.audio.silero import basis_is_hann_dft, gemm_model, stft_magnitude
from doppelab.core.errors import CheckpointError, UsageError
from doppelab.core.inference import onnx_session

__all__ = [
    "FRAME_SECONDS",
    "Segment",
    "join_segments",
    "shift",
    "speech_audio",
    "speech_probabilities",
    "speech_seconds",
    "speech_segments",
]

_FRAME = 512
_CONTEXT = 64
_MAX_FRAMES = 512
FRAME_SECONDS = _FRAME / SAMPLE_RATE  # 0.032 s per probability
_MODEL_FILE = "silero_vad_16k_sequence.onnx"


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of speech, ``start`` <= ``end`` in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def _model_path() -> Path:
    # find_spec without importing silero_vad (its __init__ imports torch)
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the silero-vad package is not installed (pip install silero-vad)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / _MODEL_FILE
    if not path.is_file():
        raise CheckpointError(f"silero-vad ships no {_MODEL_FILE} (need silero-vad >= 6.2)")
    return path


@functools.lru_cache(maxsize=3)
def _session(layout: str = "fft") -> object:
    if layout == "shipped":
        return onnx_session(_model_path())
    return onnx_session(gemm_model(_model_path(), magnitude_input=layout == "fft"))


@functools.lru_cache(maxsize=1)
def _fft_ok() -> bool:
    """The ``fft`` layout applies when the wheel's STFT is the windowed DFT it assumes."""
    return basis_is_hann_dft(_model_path())


def _check_rate(clip: AudioClip) -> None:
    if clip.sample_rate != SAMPLE_RATE:
        raise UsageError(f"voice activity needs {SAMPLE_RATE} Hz audio, got {clip.sample_rate}")


def speech_probabilities(samples: SamplesF32, *, layout: str = "fft"
                         ) -> npt.NDArray[np.float32]:
    """Per-frame speech probability of 16 kHz mono audio.

    ``layout`` ``"fft"`` (the default, fastest) computes the model's STFT magnitudes by FFT
    (:func:`doppelab.audio.silero.stft_magnitude`) and runs the rest of the GEMM layout
    (``"gemm"``: :func:`doppelab.audio.silero.gemm_model`, STFT as a matrix product);
    ``"shipped"`` the wheel's own graph (the reference the fast layouts are checked against).
    Shape: (ceil(N / 512),) float32, frame ``i`` covers samples ``[512 i, 512 (i + 1))``
    (the last frame zero-padded).
    """
    if layout not in ("fft", "gemm", "shipped"):
        raise UsageError(f"unknown VAD layout {layout!r} (fft, gemm, shipped)")
    if layout == "fft" and not _fft_ok():
        layout = "gemm"
    n = len(samples)
    count = -(-n // _FRAME)
    if count == 0:
        return np.zeros(0, np.float32)
    frames = np.zeros((count, _FRAME), np.float32)
    frames.reshape(-1)[:n] = samples
    context = np.zeros((count, _CONTEXT), np.float32)
    context[1:] = frames[:-1, -_CONTEXT:]
    rows = np.concatenate([context, frames], axis=1)
    session = _session(layout)
    h = np.zeros((1, 1, 128), np.float32)
    c = np.zeros((1, 1, 128), np.float32)
    probs = []
    for first in range(0, count, _MAX_FRAMES):
        block = rows[first:first + _MAX_FRAMES]
        if layout == "fft":
            block = stft_magnitude(block)
        p, h, c = session.run(["speech_probs", "hn", "cn"],  # type: ignore[attr-defined]
                              {"input": block, "h": h, "c": c})
        probs.append(np.asarray(p, np.float32).reshape(-1))
    return np.concatenate(probs)


def webrtc_probabilities(samples: SamplesF32, aggressiveness: int = 2) -> npt.NDArray[np.float32]:
    """Per-frame speech decisions (0 or 1) of WebRTC's VAD (``webrtcvad-wheels``), about 20x
    cheaper than Silero but fooled by steady noise. Shape: (ceil(N / 512),) on Silero's 32 ms
    frame grid (each 32 ms frame takes the majority of the 10 ms decisions inside it)."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    step = SAMPLE_RATE // 100  # 10 ms
    n10 = len(pcm) // step
    raw = pcm[: n10 * step].tobytes()
    dec = np.array([vad.is_speech(raw[2 * i * step:2 * (i + 1) * step], SAMPLE_RATE)
                    for i in range(n10)], np.float32)
    centres = (np.arange(-(-len(samples) // _FRAME)) * _FRAME + _FRAME // 2) // step
    return dec[np.minimum(centres, max(n10 - 1, 0))] if n10 else np.zeros(len(centres), np.float32)


def _hysteresis(probs: npt.NDArray[np.float32], threshold: float,
                min_silence_frames: int) -> list[tuple[int, int]]:
    """Frame ranges [start, end) of speech."""
    low = threshold - 0.15
    spans: list[tuple[int, int]] = []
    start: int | None = None
    quiet = 0
    for i, p in enumerate(probs.tolist()):  # Python floats: the same float64 comparisons, faster
        if start is None:
            if p >= threshold:
                start, quiet = i, 0
            continue
        quiet = quiet + 1 if p < low else 0
        if quiet >= min_silence_frames:
            spans.append((start, i - quiet + 1))
            start = None
    if start is not None:
        spans.append((start, len(probs) - quiet))
    return spans


def speech_segments(
    clip: AudioClip,
    *,
    threshold: float = 0.5,
    min_speech: float = 0.25,
    min_silence: float = 0.1,
    pad: float = 0.03,
    probabilities: npt.NDArray[np.float32] | None = None,
    backend: str = "silero",
) -> list[Segment]:
    """Speech segments of a 16 kHz clip (seconds from its start), in order, not overlapping.

    ``backend`` is ``"silero"`` (default, robust to noise) or ``"webrtc"`` (fast).
    ``probabilities`` may pass precomputed per-frame probabilities instead.

    Raises:
        UsageError: the clip is not 16 kHz or a setting is out of range.
    """
    _check_rate(clip)
    if not 0 < threshold < 1 or min_speech < 0 or min_silence < 0 or pad < 0:
        raise UsageError("need 0 < threshold < 1 and non-negative durations")
    if backend not in ("silero", "webrtc"):
        raise UsageError(f"unknown VAD backend {backend!r} (silero, webrtc)")
    probs = probabilities
    if probs is None:
        probs = (speech_probabilities(clip.samples) if backend == "silero"
                 else webrtc_probabilities(clip.samples))
    spans = _hysteresis(probs, threshold, max(1, round(min_silence / FRAME_SECONDS)))
    out: list[Segment] = []
    for a, b in spans:
        if (b - a) * FRAME_SECONDS < min_speech:
            continue
        start = max(0.0, a * FRAME_SECONDS - pad)
        end = min(clip.duration, b * FRAME_SECONDS + pad)
        if out and start <= out[-1].end:
            out[-1] = Segment(out[-1].start, end)
        else:
            out.append(Segment(start, end))
    return out


def speech_seconds(segments: list[Segment]) -> float:
    """Total duration of ``segments``."""
    return float(sum(s.duration for s in segments))


def shift(segments: list[Segment], seconds: float) -> list[Segment]:
    """The same segments moved by ``seconds`` (e.g. a block's ``offset``)."""
    return [Segment(s.start + seconds, s.end + seconds) for s in segments]


def join_segments(samples: SamplesF32, segments: list[Segment], sample_rate: int = SAMPLE_RATE
                  ) -> SamplesF32:
    """The samples of ``segments`` (seconds from ``samples[0]``) joined in order (VAD trim).

    Shape: (N,) -> (M,) float32, M <= N; empty when there are no segments.
    """
    parts = [samples[round(s.start * sample_rate):round(s.end * sample_rate)] for s in segments]
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def speech_audio(clip: AudioClip, segments: list[Segment] | None = None) -> SamplesF32:
    """The clip's speech only: its segments' samples joined in order (VAD trim; the VAD runs
    here when ``segments`` is None). Shape: (M,) float32, M <= N; empty without speech."""
    segs = speech_segments(clip) if segments is None else segments
    return join_segments(clip.samples, segs, clip.sample_rate)
