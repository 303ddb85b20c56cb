"""The ``speech`` detector (synthetic-speech MLP over spectral statistics) and the audio
analysis of a file.

Protocol (the same as in training, :mod:`doppelab.detect.speech_data`): the first audio track is
streamed in blocks of ``block_seconds`` (bounded memory for any length), resampled to 16 kHz mono;
Silero VAD finds speech; the speech of each block is joined, loudness-normalised and cut into 2 s
windows every ``hop`` seconds (speech shorter than a window is tiled to fill it); each window is
scored. The file's logit is the mean window logit, mapped by the shipped Platt calibration to a
probability. The per-second timeline gives, for each second of the *source* that holds speech,
the mean probability of the windows that cover it. No speech (or under ``min_speech`` seconds)
-> verdict "inconclusive", reason "no speech".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from doppelab.audio import SAMPLE_RATE, iter_audio_blocks, shift, speech_segments
from doppelab.audio.vad import Segment
from doppelab.core.errors import UsageError
from doppelab.detect.base import Level, Output, output, register, sigmoid
from doppelab.detect.shipped import read_json, weights_path
from doppelab.detect.speech_data import WINDOW, speech_windows
from doppelab.detect.speech_features import N_FEATURES, spectral_stats
from doppelab.detect.speech_phase import N_PHASE, N_WINDOW_FEATURES, window_features

__all__ = ["SPEECH_CARD", "SPEECH_ONNX", "AudioWindows", "SpeechDetector", "SpeechResult",
           "analyse_speech"]

SPEECH_ONNX = "speech.onnx"
SPEECH_CARD = "speech.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioWindows:
    """Speech windows. Shape: ``windows`` (N, 32000) float32, 16 kHz, loudness-normalised."""

    windows: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.windows.ndim != 2 or self.windows.shape[1] != WINDOW:
            raise ValueError(f"windows must be (N, {WINDOW}), got {self.windows.shape}")

    def __len__(self) -> int:
        return len(self.windows)


@register("speech")
@dataclass
class SpeechDetector:
    """Spectral statistics + small MLP (ONNX) on 2 s speech windows; ``path`` overrides
    ``speech.onnx`` (its calibration is read from the ``.json`` beside it).

    ``features`` of the output are the statistics the MLP saw: 221 window features
    (:func:`~doppelab.detect.speech_phase.window_features`) for the shipped model, or the 192
    magnitude statistics alone for a model of the first recipe (read from the ONNX input width).
    """

    name: ClassVar[str] = "speech"
    level: ClassVar[Level] = "audio"
    path: str | Path | None = None
    _session: Any = field(init=False, repr=False)
    calibration: dict[str, float] = field(init=False, repr=False)
    n_features: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        model = weights_path(SPEECH_ONNX, self.path)
        self._session = ort.InferenceSession(str(model), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        width = self._session.get_inputs()[0].shape[1]
        if width not in (N_FEATURES, N_WINDOW_FEATURES):
            raise UsageError(f"{model}: unexpected feature width {width}")
        self.n_features = int(width)
        card_path = None if self.path is None else Path(self.path).with_suffix(".json")
        card = read_json(SPEECH_CARD, card_path)
        self.calibration = {k: float(v) for k, v in card.get("calibration", {}).items()}

    def forward(self, batch: AudioWindows) -> Output:
        if not len(batch):
            return output(np.zeros(0), np.zeros((0, self.n_features)))
        if self.n_features == N_WINDOW_FEATURES:
            feats = window_features(batch.windows)
        else:
            feats = np.concatenate([spectral_stats(batch.windows[i:i + 64])
                                    for i in range(0, len(batch), 64)])
        logits = self._session.run(None, {"features": feats})[0].reshape(-1)
        return output(logits, feats)

    def calibrated(self, logit: float) -> float:
        """Platt-scaled probability of a (mean) logit."""
        a, b = self.calibration.get("a", 1.0), self.calibration.get("b", 0.0)
        return float(sigmoid(a * logit + b))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "window_s": WINDOW / SAMPLE_RATE,
                "features": f"spectral_stats{N_FEATURES}+phase_stats{N_PHASE}"
                if self.n_features == N_WINDOW_FEATURES else f"spectral_stats{N_FEATURES}"}


@dataclass(slots=True, kw_only=True)
class SpeechResult:
    """Speech evidence for one file (JSON-ready except ``windows``)."""

    duration: float = 0.0
    speech_seconds: float = 0.0
    truncated: bool = False
    verdict: str = "inconclusive"
    reason: str | None = None
    probability: float | None = None
    logit: float | None = None
    segments: list[tuple[float, float]] = field(default_factory=list)
    windows: list[dict[str, float]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    speaker: dict[str, Any] | None = None
    seconds: float = 0.0


def _time_map(segments: list[Segment]) -> npt.NDArray[np.float64]:
    """Cumulative speech time at each segment start -> source time (for window positions)."""
    return np.array([[s.start, s.duration] for s in segments], np.float64).reshape(-1, 2)


def _source_time(t_speech: float, table: npt.NDArray[np.float64]) -> float:
    """Source time of the sample ``t_speech`` seconds into the joined speech."""
    cum = np.concatenate([[0.0], np.cumsum(table[:, 1])])
    i = int(np.clip(np.searchsorted(cum, t_speech, side="right") - 1, 0, len(table) - 1))
    return float(table[i, 0] + min(t_speech - cum[i], table[i, 1]))


def _block_windows(x: npt.NDArray[np.float32], segs: list[Segment], offset: float, hop: float
                   ) -> tuple[npt.NDArray[np.float32], list[tuple[float, float]]]:
    wins = speech_windows(x, segs, hop_seconds=hop)
    if not len(wins):
        return wins, []
    table = _time_map(segs)
    total = float(table[:, 1].sum())
    spans = []
    for k in range(len(wins)):
        a = min(k * hop, total)
        b = min(k * hop + WINDOW / SAMPLE_RATE, total)
        spans.append((offset + _source_time(a, table), offset + _source_time(b, table)))
    return wins, spans


def analyse_speech(
    path: str | Path, detector: SpeechDetector | None = None, *, hop: float = 1.0,
    max_seconds: float | None = None, block_seconds: float = 60.0, min_speech: float = 0.5,
    margin: float = 0.15, vad: str = "silero",
) -> SpeechResult:
    """Score the speech of ``path`` (see module doc); ``vad`` is the voice-activity backend
    (``silero`` or the faster, noise-prone ``webrtc``). Raises the audio stage's typed errors
    (``NoAudioError`` for a file without an audio track)."""
    t0 = time.perf_counter()
    det = detector or SpeechDetector()
    res = SpeechResult()
    logits: list[float] = []
    for block in iter_audio_blocks(path, block_seconds=block_seconds, max_seconds=max_seconds):
        if block.source is not None and not res.source:
            res.source = {"codec": block.source.codec, "sample_rate": block.source.sample_rate,
                          "channels": block.source.channels, "container": block.source.container}
        res.duration += block.duration
        res.truncated = block.truncated
        segs = speech_segments(block, backend=vad)
        res.segments += [(round(s.start, 3), round(s.end, 3)) for s in shift(segs, block.offset)]
        res.speech_seconds += sum(s.duration for s in segs)
        wins, spans = _block_windows(block.samples, segs, block.offset, hop)
        if len(wins):
            out = det.forward(AudioWindows(windows=wins))
            for (a, b), lg in zip(spans, out["logits"], strict=True):
                res.windows.append({"start": round(a, 3), "end": round(b, 3), "logit": float(lg),
                                    "probability": det.calibrated(float(lg))})
                logits.append(float(lg))
    res.seconds = time.perf_counter() - t0
    if not logits or res.speech_seconds < min_speech:
        res.verdict, res.reason = "inconclusive", "no speech"
        return res
    res.logit = float(np.mean(logits))
    res.probability = det.calibrated(res.logit)
    res.timeline = _per_second(res.windows, res.duration)
    res.verdict, res.reason = _verdict(res.probability, margin)
    return res


def _per_second(windows: list[dict[str, float]], duration: float) -> list[dict[str, Any]]:
    """Mean probability of the windows covering each second (linear in the number of windows)."""
    n = int(np.ceil(duration))
    total = np.zeros(n)
    count = np.zeros(n, np.int64)
    for w in windows:
        first, last = int(np.floor(w["start"])), int(np.ceil(w["end"]))
        total[first:last] += w["probability"]
        count[first:last] += 1
    return [{"second": s, "probability": float(total[s] / count[s])}
            for s in range(n) if count[s]]


def _verdict(p: float, margin: float) -> tuple[str, str | None]:
    if p >= 0.5 + margin:
        return "likely fake", "synthetic speech"
    if p <= 0.5 - margin:
        return "likely real", None
    return "inconclusive", "speech score near the decision threshold"
