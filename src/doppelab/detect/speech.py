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
from doppelab.audio.vad import Segment, speech_seconds
from doppelab.core.errors import UsageError
from doppelab.core.inference import onnx_session
from doppelab.core.memory import retain_freed_memory
from doppelab.detect.base import Level, Output, output, register, sigmoid, verdict
from doppelab.detect.shipped import read_json, weights_path
from doppelab.detect.speech_data import WINDOW, speech_signal, window_count
from doppelab.detect.speech_features import N_FEATURES, sliding_stats, spectral_stats
from doppelab.detect.speech_phase import N_PHASE, N_WINDOW_FEATURES, phase_stats
from doppelab.detect.speech_prosody import N_PROSODY, prosody_stats, sliding_prosody

__all__ = ["SPEECH_CARD", "SPEECH_ONNX", "AudioWindows", "SpeechDetector", "SpeechResult",
           "analyse_speech"]

SPEECH_ONNX = "speech.onnx"
SPEECH_CARD = "speech.json"
_CHUNK = 64  # windows per feature batch (about 20 MB of spectra)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioWindows:
    """Speech windows. Shape: ``windows`` (N, 32000) float32, 16 kHz, loudness-normalised.

    Built by :meth:`sliding`, the windows are views into one ``signal`` every ``hop`` samples
    (no copies), and the detector computes each overlapping STFT frame once."""

    windows: npt.NDArray[np.float32]
    signal: npt.NDArray[np.float32] | None = None
    hop: int = 0

    def __post_init__(self) -> None:
        if self.windows.ndim != 2 or self.windows.shape[1] != WINDOW:
            raise ValueError(f"windows must be (N, {WINDOW}), got {self.windows.shape}")

    def __len__(self) -> int:
        return len(self.windows)

    @classmethod
    def sliding(cls, signal: npt.NDArray[np.float32], hop: int) -> AudioWindows:
        """Every window of ``signal`` (N,) starting at a multiple of ``hop`` samples."""
        if signal.ndim != 1 or hop < 1:
            raise ValueError(f"need a (N,) signal and hop >= 1, got {signal.shape}, {hop}")
        count = window_count(len(signal), hop)
        if count == 0:
            return cls(windows=np.zeros((0, WINDOW), np.float32))
        view = np.lib.stride_tricks.sliding_window_view(signal, WINDOW)[::hop][:count]
        return cls(windows=view, signal=signal, hop=hop)


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
        retain_freed_memory()  # numpy temporaries without page faults (core.memory)
        model = weights_path(SPEECH_ONNX, self.path)
        self._session = onnx_session(model)
        width = self._session.get_inputs()[0].shape[1]
        if width not in (N_FEATURES, N_WINDOW_FEATURES, N_WINDOW_FEATURES + N_PROSODY):
            raise UsageError(f"{model}: unexpected feature width {width}")
        self.n_features = int(width)
        card_path = None if self.path is None else Path(self.path).with_suffix(".json")
        card = read_json(SPEECH_CARD, card_path)
        self.calibration = {k: float(v) for k, v in card.get("calibration", {}).items()}

    def forward(self, batch: AudioWindows) -> Output:
        if not len(batch):
            return output(np.zeros(0), np.zeros((0, self.n_features)))
        feats = np.concatenate([self._features(batch, i, min(i + _CHUNK, len(batch)))
                                for i in range(0, len(batch), _CHUNK)])
        logits = self._session.run(None, {"features": feats})[0].reshape(-1)
        return output(logits, feats)

    def _features(self, batch: AudioWindows, first: int, stop: int) -> npt.NDArray[np.float32]:
        """Statistics of windows ``first:stop`` (bounded memory: one chunk at a time): the
        magnitude statistics, then (a model of the later recipes) the phase statistics and
        (the current one) the prosody statistics."""
        windows = batch.windows[first:stop]
        part = None
        if batch.signal is None:
            mag = spectral_stats(windows)
        else:
            part = batch.signal[first * batch.hop:(stop - 1) * batch.hop + WINDOW]
            mag = sliding_stats(part, WINDOW, batch.hop, stop - first)
        if self.n_features == N_FEATURES:
            return mag
        feats = [mag, phase_stats(windows)]
        if self.n_features > N_WINDOW_FEATURES:
            feats.append(prosody_stats(windows) if part is None
                         else sliding_prosody(part, WINDOW, batch.hop, stop - first))
        return np.concatenate(feats, axis=1)

    def calibrated(self, logit: float) -> float:
        """Platt-scaled probability of a (mean) logit."""
        a, b = self.calibration.get("a", 1.0), self.calibration.get("b", 0.0)
        return float(sigmoid(a * logit + b))

    def describe(self) -> dict[str, Any]:
        names = [f"spectral_stats{N_FEATURES}", f"phase_stats{N_PHASE}",
                 f"prosody_stats{N_PROSODY}"]
        used = {N_FEATURES: 1, N_WINDOW_FEATURES: 2}.get(self.n_features, 3)
        return {"name": self.name, "window_s": WINDOW / SAMPLE_RATE,
                "features": "+".join(names[:used])}


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
    caveats: list[str] = field(default_factory=list)  # conditions known to unsettle the score


SHORT_SPEECH_CAVEAT = (
    "short speech ({:.1f} s, under one 2 s window, so it is looped to fill one): the score of "
    "such speech moves with sub-millisecond shifts of its start (up to 1.5 logits in tests)")


def _source_times(t_speech: npt.NDArray[np.float64], table: npt.NDArray[np.float64]
                  ) -> npt.NDArray[np.float64]:
    """Source time of each point ``t_speech`` seconds into the joined speech; ``table`` holds
    (start, duration) of each segment."""
    cum = np.concatenate([[0.0], np.cumsum(table[:, 1])])
    i = np.clip(np.searchsorted(cum, t_speech, side="right") - 1, 0, len(table) - 1)
    return np.asarray(table[i, 0] + np.minimum(t_speech - cum[i], table[i, 1]))


def _block_windows(x: npt.NDArray[np.float32], segs: list[Segment], offset: float, hop: float
                   ) -> tuple[AudioWindows, list[tuple[float, float]]]:
    wins = AudioWindows.sliding(speech_signal(x, segs), max(1, round(hop * SAMPLE_RATE)))
    if not len(wins):
        return wins, []
    table = np.array([[s.start, s.duration] for s in segs], np.float64).reshape(-1, 2)
    total = float(table[:, 1].sum())
    k = np.arange(len(wins)) * hop
    starts = _source_times(np.minimum(k, total), table)
    ends = _source_times(np.minimum(k + WINDOW / SAMPLE_RATE, total), table)
    return wins, [(offset + float(a), offset + float(b)) for a, b in zip(starts, ends, strict=True)]


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
        res.speech_seconds += speech_seconds(segs)
        wins, spans = _block_windows(block.samples, segs, block.offset, hop)
        if len(wins):
            out = det.forward(wins)
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
    res.verdict, res.reason = verdict(res.probability, margin, fake_reason="synthetic speech",
                                      unsure_reason="speech score near the decision threshold")
    if res.speech_seconds < WINDOW / SAMPLE_RATE:
        res.caveats.append(SHORT_SPEECH_CAVEAT.format(res.speech_seconds))
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
