"""Extra fake generators for the speech detector: more kinds of synthetic speech to train on,
never measured and never left out (like the ``phasejitter`` pseudo-fakes).

A detector generalises to an unseen generator better the more *different* generators it has
seen. Each extra family is copy-synthesis of real train speech with a generator of its own, and
names the measured family (:data:`~doppelab.detect.speech_data.FAMILIES`) it is a variant of:
when that family is left out of training (leave-one-family-out), its variants are left out too,
so the left-out family stays unseen.

* ``glottal`` (variant of ``lpc``): a source-filter synthesiser with a rule-like source: the
  real utterance's LPC-12 envelope per 20 ms, driven by a Rosenberg glottal pulse train at a
  *stylised* pitch (the WORLD F0 track median-filtered over 150 ms and quantised to a piecewise
  linear contour through 100 ms anchors: no jitter, no micro-prosody) with a constant amplitude
  per frame, aspiration noise added at a random 20-35 dB below the pulses;
* ``worldflat`` (variant of ``world``): WORLD with the F0 contour smoothed over 200 ms and the
  aperiodicity replaced by its utterance-wide average per frequency (the over-smoothed,
  averaged source of statistical parametric synthesis);
* ``glwide`` (variant of ``griffinlim``): Griffin-Lim with a 1024-point STFT (hop 256) and 4-32
  iterations: a different resolution and convergence of phase reconstruction;
* ``sinusoidal`` (variant of ``world``: it uses WORLD's analysis): a harmonic model: every
  harmonic of the WORLD F0 as a sinusoid with the CheapTrick envelope's amplitude and a phase
  accumulated from F0 (perfectly phase-locked harmonics), filtered noise in unvoiced frames.

Convention: every maker takes ``(N,)`` float32 mono at 16 kHz and a generator and returns the
same length.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import lfilter

from doppelab.audio import SAMPLE_RATE
from doppelab.audio.decode import SamplesF32
from doppelab.core.errors import UsageError
from doppelab.detect.speech_data import FAMILIES

__all__ = ["EXTRA_FAMILIES", "EXTRA_VARIANT_OF", "cache_suffix", "glottal", "glwide",
           "left_out_with", "sinusoidal", "train_families", "worldflat"]

_FP = 5.0  # WORLD frame period, ms


def _stylised_f0(f0: np.ndarray) -> np.ndarray:
    """Median-filtered (150 ms) F0, then piecewise linear through 100 ms anchors in voiced
    stretches (0 stays 0). Frames of :data:`_FP` ms."""
    voiced = f0 > 0
    med = median_filter(np.where(voiced, f0, 0.0), size=31)
    med = np.where(voiced & (med > 0), med, np.where(voiced, f0, 0.0))
    out = np.zeros_like(f0)
    step = 20
    idx = np.arange(len(f0))
    anchors = idx[::step]
    vals = med[anchors]
    ok = vals > 0
    if ok.sum() >= 2:
        out = np.interp(idx, anchors[ok], vals[ok])
    elif ok.any():
        out = np.full(len(f0), vals[ok][0])
    return np.where(voiced, out, 0.0)


def _rosenberg(n: int, open_q: float = 0.6, close_q: float = 0.3) -> np.ndarray:
    """One Rosenberg glottal flow derivative pulse of ``n`` samples."""
    t = np.arange(n) / max(n, 1)
    flow = np.where(t < open_q, 0.5 * (1 - np.cos(np.pi * t / open_q)),
                    np.where(t < open_q + close_q,
                             np.cos(0.5 * np.pi * (t - open_q) / close_q), 0.0))
    return np.diff(flow, prepend=0.0)


def _pulse_train(f0: np.ndarray, length: int) -> np.ndarray:
    """Glottal pulses at ``f0`` (per :data:`_FP` ms frame), silence where unvoiced."""
    out = np.zeros(length + 800)
    per_frame = SAMPLE_RATE * _FP / 1000
    pos = 0.0
    while pos < length:
        hz = f0[min(int(pos / per_frame), len(f0) - 1)]
        if hz <= 0:
            pos += per_frame
            continue
        period = SAMPLE_RATE / hz
        pulse = _rosenberg(int(period))
        start = int(pos)
        out[start:start + len(pulse)] += pulse * np.sqrt(period)
        pos += period
    return out[:length]


def glottal(x: SamplesF32, rng: np.random.Generator) -> SamplesF32:
    """Rule-like source-filter synthesis (see module doc)."""
    import pyworld

    from doppelab.detect.speech_fakes import _lpc

    xd = np.ascontiguousarray(x, np.float64)
    f0, _ = pyworld.dio(xd, SAMPLE_RATE, frame_period=_FP)
    f0 = _stylised_f0(f0) * rng.uniform(0.9, 1.1)
    source = _pulse_train(f0, len(x))
    noise = rng.standard_normal(len(x)) * 10 ** (-rng.uniform(20, 35) / 20)
    frame, hop = 320, 160
    win = np.hanning(frame)
    pre = lfilter([1, -0.9], [1], xd)
    out = np.zeros(len(x) + frame)
    for start in range(0, max(1, len(x) - frame + 1), hop):
        seg = pre[start:start + frame]
        if len(seg) < frame:
            break
        a, err = _lpc(seg * win, 12)
        voiced = f0[min(start // 80, len(f0) - 1)] > 0
        exc = source[start:start + frame] + noise[start:start + frame] if voiced \
            else rng.standard_normal(frame)
        exc = exc / (np.sqrt(np.mean(exc ** 2)) + 1e-9)
        out[start:start + frame] += lfilter([np.sqrt(err / frame)], a, exc) * win
    return np.asarray(lfilter([1], [1, -0.9], out[: len(x)]), np.float32)


def worldflat(x: SamplesF32, rng: np.random.Generator) -> SamplesF32:
    """WORLD with over-smoothed F0 and an utterance-average aperiodicity (see module doc)."""
    import pyworld

    from doppelab.detect.speech_fakes import _world_analysis

    f0, _, sp, ap = _world_analysis(x)
    voiced = f0 > 0
    smooth = uniform_filter1d(np.where(voiced, f0, 0.0), 41)
    weight = uniform_filter1d(voiced.astype(float), 41)
    f0s = np.where(voiced, smooth / np.maximum(weight, 1e-6), 0.0) * rng.uniform(0.92, 1.08)
    if voiced.any():
        ap = np.where(voiced[:, None], ap[voiced].mean(axis=0, keepdims=True), ap)
    y = pyworld.synthesize(f0s, sp, np.ascontiguousarray(ap), SAMPLE_RATE, frame_period=_FP)
    return np.asarray(np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)], np.float32)


def glwide(x: SamplesF32, rng: np.random.Generator) -> SamplesF32:
    """Griffin-Lim at 1024/256 with 4-32 iterations (see module doc)."""
    from scipy.signal import istft, stft

    n, hop = 1024, 256
    _, _, spec = stft(x, nperseg=n, noverlap=n - hop)
    mag = np.abs(spec)
    phase = np.exp(2j * np.pi * rng.random(mag.shape))
    for _ in range(int(rng.integers(4, 33))):
        _, y = istft(mag * phase, nperseg=n, noverlap=n - hop)
        _, _, est = stft(y, nperseg=n, noverlap=n - hop)
        phase = np.exp(1j * np.angle(est))
    _, y = istft(mag * phase, nperseg=n, noverlap=n - hop)
    return np.asarray(np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)], np.float32)


def sinusoidal(x: SamplesF32, rng: np.random.Generator) -> SamplesF32:
    """Harmonic-model re-synthesis from WORLD's analysis (see module doc)."""
    from doppelab.detect.speech_fakes import _world_analysis

    f0, _, sp, _ = _world_analysis(x)
    per_frame = int(SAMPLE_RATE * _FP / 1000)
    t = np.arange(len(x))
    frame = np.minimum(t // per_frame, len(f0) - 1)
    hz = np.interp(t / per_frame, np.arange(len(f0)), f0)
    hz = np.where(f0[frame] > 0, hz, 0.0)
    phase = 2 * np.pi * np.cumsum(hz) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi)
    bins = sp.shape[1]
    out = np.zeros(len(x))
    amp_env = np.sqrt(sp)
    for k in range(1, 80):
        fk = k * hz
        live = (fk > 0) & (fk < 7600)
        if not live.any():
            break
        b = np.clip(np.round(fk / (SAMPLE_RATE / 2) * (bins - 1)).astype(int), 0, bins - 1)
        out += np.where(live, amp_env[frame, b] * np.cos(k * phase), 0.0)
    unvoiced = f0[frame] <= 0
    noise = rng.standard_normal(len(x)) * np.sqrt(sp[frame].mean(axis=1)) * unvoiced
    y = out + noise
    y *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / (np.mean(y ** 2) + 1e-12))
    return np.asarray(y, np.float32)


EXTRA_FAMILIES: dict[str, Callable[[SamplesF32, np.random.Generator], SamplesF32]] = {
    "glottal": glottal, "worldflat": worldflat, "glwide": glwide, "sinusoidal": sinusoidal}
EXTRA_VARIANT_OF = {"glottal": "lpc", "worldflat": "world", "glwide": "griffinlim",
                    "sinusoidal": "world"}


def train_families(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The families of the train windows: the measured ones, then the ``extra`` ones.

    Raises:
        UsageError: an extra family that :data:`EXTRA_FAMILIES` does not know.
    """
    unknown = [e for e in extra if e not in EXTRA_FAMILIES]
    if unknown:
        raise UsageError(f"unknown extra families {unknown}; known: {', '.join(EXTRA_FAMILIES)}")
    return FAMILIES + tuple(extra)


def cache_suffix(extra: tuple[str, ...]) -> str:
    """What the extra families add to the name of a train feature cache."""
    return "".join(f"-{e}" for e in extra)


def left_out_with(family: str) -> list[str]:
    """The train families a leave-one-out model of ``family`` must not see: the family itself
    and the extra families that are variants of it (:data:`EXTRA_VARIANT_OF`)."""
    return [family] + [e for e, parent in EXTRA_VARIANT_OF.items() if parent == family]
