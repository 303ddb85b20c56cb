"""Reverberation estimates of speech windows, for ``bench/speech_reverb_gate.py`` (measurement
only: the gate they were made for was not adopted, so none of this is in the package).

* :func:`room_twin`: a window through a random, possibly strong room (RT60 U(0.2, 0.9) s, DRR
  U(-3, 12) dB, 3-6 early reflections), RMS kept (session 18's room twins);
* :func:`decay_stats`: sub-band envelope decay statistics of a window (magnitude only);
* :func:`twin_features`: features of every dry train window (the first half of
  ``train_speech.features``' train rows) and of its room twin, cached;
* :class:`Estimator`: a logistic regression on detector features and/or decay statistics,
  file score = sigmoid of the mean window logit;
* :class:`RecordingDetector`: the speech detector, also scoring reverberation of every window
  it sees, so one ``analyse_speech`` pass gives both.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import fftconvolve

from doppelab.audio import SAMPLE_RATE
from doppelab.core.storage import atomic_write_npz
from doppelab.detect.base import Output, sigmoid
from doppelab.detect.frequency import Logistic
from doppelab.detect.speech import AudioWindows, SpeechDetector
from doppelab.detect.speech_data import load_shards, lowpass_copies, room_tail
from doppelab.detect.speech_extra import train_families
from doppelab.detect.speech_fakes import phase_jitter
from doppelab.detect.speech_phase import window_features
from doppelab.detect.speech_prosody import prosody_stats
from doppelab.detect.train_speech import SpeechRecipe

# decay statistics: 32 ms Hann frames every 10 ms, 8 log-spaced bands 100 Hz - 8 kHz
_FRAME, _HOP = 512, 160
_EDGES_HZ = np.geomspace(100.0, 8000.0, 9)
_SPANS = (5, 15)  # slope spans in frames (50 and 150 ms)
_PCTS = (1.0, 5.0, 20.0)  # the steepest decays
_ACTIVE_DB = 30.0  # a decay counts when it starts within this many dB of the band's peak
N_DECAY = 8 + 8 * len(_SPANS) * len(_PCTS)


def room_twin(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` through a random room (see module doc), RMS kept."""
    h = room_tail(rng.uniform(0.2, 0.9), rng.uniform(-3.0, 12.0), rng)
    for _ in range(rng.integers(3, 7)):
        h[int(rng.uniform(0.002, 0.025) * SAMPLE_RATE)] += rng.uniform(0.1, 0.6) * rng.choice(
            [-1, 1])
    y = fftconvolve(x, h)[: len(x)]
    return (y * np.sqrt(np.mean(x ** 2) / (np.mean(y ** 2) + 1e-12))).astype(np.float32)


def _band_db(windows: np.ndarray) -> np.ndarray:
    """(N, L) windows -> (N, 8, T) band log-energies (dB)."""
    n_frames = 1 + (windows.shape[1] - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(windows[:, idx] * np.hanning(_FRAME), _FRAME)) ** 2
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / SAMPLE_RATE)
    bands = [spec[..., (freqs >= lo) & (freqs < hi)].sum(-1)
             for lo, hi in itertools.pairwise(_EDGES_HZ)]
    return 10.0 * np.log10(np.stack(bands, axis=1) + 1e-10)


def decay_stats(windows: np.ndarray, batch: int = 64) -> np.ndarray:
    """Per band: the 90th - 10th percentile level spread, and the 1st / 5th / 20th percentiles
    of the log-energy slope (dB/s) over 50 and 150 ms spans that start within 30 dB of the
    band's peak (a room's tail bounds how fast energy can fall). (N, L) -> (N, 56)."""
    out = []
    for i in range(0, len(windows), batch):
        e = _band_db(np.asarray(windows[i:i + batch], np.float64))
        feats = [np.percentile(e, 90, axis=-1) - np.percentile(e, 10, axis=-1)]
        peak = e.max(axis=-1, keepdims=True)
        for k in _SPANS:
            slope = (e[..., k:] - e[..., :-k]) / (k * _HOP / SAMPLE_RATE)
            slope = np.where(e[..., :-k] > peak - _ACTIVE_DB, slope, np.nan)
            with warnings.catch_warnings():  # a silent band has no decay: 0
                warnings.simplefilter("ignore", RuntimeWarning)
                feats += [np.nan_to_num(np.nanpercentile(slope, q, axis=-1)) for q in _PCTS]
        out.append(np.concatenate(feats, axis=1))
    return np.concatenate(out) if out else np.zeros((0, N_DECAY))


def detector_stats(windows: np.ndarray) -> np.ndarray:
    """The shipped speech model's window features (window + prosody statistics)."""
    return np.concatenate([window_features(windows), prosody_stats(windows)], axis=1)


def dry_windows(work: Path, recipe: SpeechRecipe) -> np.ndarray:
    """The dry train windows in ``train_speech.features``' row order (its first half):
    originals, low-passed copies, phase-jittered copies of the real ones (``PSEUDO_FAMILY``),
    as ``train_speech._train_windows`` makes them before its channel copies."""
    windows, y, _, _ = load_shards(work / "shards", "train",
                                   train_families(recipe.extra_families))
    windows = np.concatenate([windows, lowpass_copies(windows, np.random.default_rng(0))])
    if recipe.pseudo_fakes:
        real = np.flatnonzero(np.concatenate([y, y]) == 0)
        rng = np.random.default_rng(1)
        windows = np.concatenate([windows, np.stack([phase_jitter(windows[i], rng)
                                                     for i in real])])
    return windows


def twin_features(work: Path, recipe: SpeechRecipe, cache: Path,
                  front: Callable[[np.ndarray], np.ndarray], with_dry: bool
                  ) -> tuple[np.ndarray | None, np.ndarray]:
    """(``front`` of the dry windows or None, ``front`` of their room twins; one
    ``default_rng(7)`` drawn in row order), cached as ``cache`` (keys ``dry``, ``x``)."""
    if cache.exists():
        with np.load(cache) as z:
            dry = z["dry"] if "dry" in z.files else None
            return dry, z["x"]
    windows = dry_windows(work, recipe)
    dry = front(windows).astype(np.float32) if with_dry else None
    rng = np.random.default_rng(7)
    for i in range(len(windows)):
        windows[i] = room_twin(windows[i], rng)
    x = front(windows).astype(np.float32)
    atomic_write_npz(cache, x=x, **({} if dry is None else {"dry": dry}))
    return dry, x


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimator:
    """``kind``: ``detector`` (the first ``columns`` detector features), ``decay`` (decay
    statistics then ``columns`` detector features)."""

    model: Logistic
    kind: str
    columns: int
    threshold: float = 0.0

    def window_logits(self, features: np.ndarray, windows: np.ndarray) -> np.ndarray:
        parts = [decay_stats(windows)] if self.kind == "decay" else []
        x = np.concatenate([*parts, np.asarray(features, np.float64)[:, :self.columns]], axis=1)
        return self.model.logits(x)

    def file_score(self, logits: list[float]) -> float:
        return float(sigmoid(float(np.mean(logits))))


@dataclass
class RecordingDetector(SpeechDetector):
    """The speech detector that also keeps each window's reverberation logit (``seen``)."""

    estimator: Estimator | None = None
    seen: list[float] = field(default_factory=list)

    def forward(self, batch: AudioWindows) -> Output:
        out = SpeechDetector.forward(self, batch)
        if self.estimator is not None and len(batch):
            self.seen += self.estimator.window_logits(out["features"], batch.windows).tolist()
        return out

    def take(self) -> list[float]:
        got, self.seen = self.seen, []
        return got


def to_arrays(est: Estimator) -> dict[str, Any]:
    return {**est.model.to_arrays(), "threshold": np.array([est.threshold]),
            "kind": np.array([est.kind]), "columns": np.array([est.columns])}
