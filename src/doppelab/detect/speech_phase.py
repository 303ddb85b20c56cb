"""Phase-sensitive statistics for the speech detector (a second front end beside
:mod:`doppelab.detect.speech_features`, kept apart so either can be optimised alone).

The magnitude statistics of ``spectral_stats`` cannot see how the harmonics of voiced speech line
up in time. Real speech is excited by glottal pulses that strike every frequency at once, so the
fine temporal structure of neighbouring sub-bands is coherent and the prediction residual is
peaky. Phase reconstruction (Griffin-Lim, many neural vocoders) smears that alignment; pulse- or
rule-driven synthesis (LPC, WORLD, diphone and formant TTS) makes it too regular. Measured on our
train speakers (speaker-grouped folds, each fake family left out in turn), adding these 76 values
to the 192 magnitude statistics lowered the mean left-out EER of the MLP from 0.30 to 0.24; see
the model card.

* :func:`subband_envelope_stats` (61): sixteen 500 Hz bands of the window's analytic signal
  (taken from one FFT of the whole window, each band moved to baseband and sampled at 1 kHz);
  per band the depth of pitch-rate envelope modulation (envelope minus its 20 ms moving mean),
  the log kurtosis of that modulation, and the correlation of the modulation between bands one
  and two apart (vertical phase coherence).
* :func:`residual_peakiness` (15): each 20 ms frame (10 ms hop, pre-emphasis 0.97, Hann) whitened
  by its own 15-bin smoothed magnitude, back to time; the log kurtosis and log crest factor of
  that residual (power-weighted over frames) and the spread of the kurtosis, for the full band
  and four 2 kHz bands.

Shape: windows (B, L) float32, 16 kHz -> (B, 76) float32.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.fft import ifft, irfft, rfft
from scipy.ndimage import uniform_filter1d

__all__ = ["N_PHASE", "N_WINDOW_FEATURES", "phase_stats", "residual_peakiness",
           "subband_envelope_stats", "window_features"]

F32 = npt.NDArray[np.float32]
_RATE = 16_000
_ENV_BANDS, _ENV_WIDTH, _ENV_RATE = 16, 500, 1000
_FRAME, _HOP, _NFFT, _RES_BANDS = 320, 160, 512, 4
N_ENV = 4 * _ENV_BANDS - 3
N_RES = 3 * (1 + _RES_BANDS)
N_PHASE = N_ENV + N_RES
N_WINDOW_FEATURES = 192 + N_PHASE


def _check(windows: F32, min_len: int) -> F32:
    w = np.asarray(windows, np.float32)
    if w.ndim != 2 or w.shape[1] < min_len:
        raise ValueError(f"windows must be (B, L >= {min_len}), got {w.shape}")
    return w


def subband_envelope_stats(windows: F32) -> F32:
    """Pitch-rate envelope modulation of 16 sub-bands (see module doc). (B, L) -> (B, 61)."""
    w = _check(windows, 2 * _FRAME)
    n = w.shape[1]
    spec = rfft(w, axis=1, workers=1)
    per = int(_ENV_WIDTH * n / _RATE)  # FFT bins per band
    m = int(_ENV_RATE * n / _RATE)  # baseband samples
    base = np.zeros((w.shape[0], _ENV_BANDS, m), np.complex64)
    for b in range(_ENV_BANDS):
        base[:, b, :per] = spec[:, b * per:(b + 1) * per]
    env = np.abs(ifft(base, axis=2, workers=1))
    env /= env.mean(axis=2, keepdims=True) + 1e-9
    fast = env - uniform_filter1d(env, 20, axis=2)
    depth = np.sqrt((fast ** 2).mean(axis=2)) / (np.sqrt((env ** 2).mean(axis=2)) + 1e-9)
    z = fast - fast.mean(axis=2, keepdims=True)
    z /= np.sqrt((z ** 2).mean(axis=2, keepdims=True)) + 1e-9
    corr1 = (z[:, 1:] * z[:, :-1]).mean(axis=2)
    corr2 = (z[:, 2:] * z[:, :-2]).mean(axis=2)
    kurt = np.log((z ** 4).mean(axis=2))
    return np.concatenate([depth, corr1, corr2, kurt], axis=1).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _hann() -> F32:
    return np.hanning(_FRAME).astype(np.float32)


def residual_peakiness(windows: F32) -> F32:
    """Peakiness of the spectrally whitened frames (see module doc). (B, L) -> (B, 15)."""
    w = _check(windows, 2 * _FRAME)
    pre = np.concatenate([w[:, :1], w[:, 1:] - 0.97 * w[:, :-1]], axis=1)
    n = 1 + (w.shape[1] - _FRAME - 1) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n)[:, None]
    spec = rfft(pre[:, idx] * _hann(), _NFFT, axis=2, workers=1)
    mag = np.abs(spec) + np.float32(1e-9)
    white = spec / uniform_filter1d(mag, 15, axis=2)
    power = (mag ** 2).mean(axis=2)
    weight = power / power.sum(axis=1, keepdims=True)
    k = white.shape[2]
    spans = [(0, k)] + [(k * i // _RES_BANDS, k * (i + 1) // _RES_BANDS)
                        for i in range(_RES_BANDS)]
    out = []
    for lo, hi in spans:
        part = np.zeros_like(white)
        part[:, :, lo:hi] = white[:, :, lo:hi]
        r2 = irfft(part, _NFFT, axis=2, workers=1)[:, :, 96:_NFFT - 96] ** 2
        m2 = r2.mean(axis=2)
        log_kurt = np.log((r2 ** 2).mean(axis=2) / (m2 ** 2 + 1e-12) + 1e-3)
        log_crest = np.log(r2.max(axis=2) / (m2 + 1e-12) + 1e-3)
        out += [(log_kurt * weight).sum(axis=1), (log_crest * weight).sum(axis=1),
                log_kurt.std(axis=1)]
    return np.stack(out, axis=1).astype(np.float32)


def phase_stats(windows: F32) -> F32:
    """Both phase-sensitive blocks. (B, L) -> (B, 76)."""
    return np.concatenate([subband_envelope_stats(windows), residual_peakiness(windows)], axis=1)


def window_features(windows: F32, batch: int = 64) -> F32:
    """What the speech MLP sees: ``spectral_stats`` (192) then :func:`phase_stats` (76),
    in batches of ``batch`` windows. (B, L) -> (B, 268)."""
    from doppelab.detect.speech_features import spectral_stats

    w = np.asarray(windows, np.float32)
    if w.ndim != 2:
        raise ValueError(f"windows must be (B, L), got {w.shape}")
    if not len(w):
        return np.zeros((0, N_WINDOW_FEATURES), np.float32)
    parts = [np.concatenate([spectral_stats(w[i:i + batch]), phase_stats(w[i:i + batch])], axis=1)
             for i in range(0, len(w), batch)]
    return np.concatenate(parts).astype(np.float32)
