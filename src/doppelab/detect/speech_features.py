"""The speech detector's front end: LFCC (linear-frequency cepstral coefficients) with deltas.

Per 2 s window of 16 kHz speech: pre-emphasis 0.97, 20 ms Hann frames every 10 ms, 512-point
power spectrum, 40 triangular filters spaced *linearly* over 0-8 kHz (vocoder and codec traces
sit in the high band that a mel scale squeezes), log, DCT-II -> 20 coefficients; first and second
differences appended (60 rows). The static coefficients are mean-normalised over the window
(cepstral mean normalisation), which removes a constant gain and the average channel colour, so
loudness and microphone/codec tilt are not a cue.

Shape: windows (B, L) float32 -> features (B, 60, 1 + (L - 320) // 160) float32.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.fft import dct, rfft

__all__ = ["N_COEFFS", "N_FEATURES", "lfcc"]

N_COEFFS = 20
N_FEATURES = 3 * N_COEFFS
_FRAME, _HOP, _NFFT, _FILTERS = 320, 160, 512, 40
F32 = npt.NDArray[np.float32]


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[F32, F32]:
    bins = _NFFT // 2 + 1
    edges = np.linspace(0, bins - 1, _FILTERS + 2)
    k = np.arange(bins)
    fb = np.zeros((bins, _FILTERS), np.float32)
    for i in range(_FILTERS):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        fb[:, i] = np.maximum(0, np.minimum((k - lo) / (mid - lo), (hi - k) / (hi - mid)))
    return fb, np.hanning(_FRAME).astype(np.float32)


def _delta(x: F32) -> F32:
    """First difference over time with edge padding. Shape: (B, C, T) -> (B, C, T)."""
    padded = np.concatenate([x[:, :, :1], x, x[:, :, -1:]], axis=2)
    return ((padded[:, :, 2:] - padded[:, :, :-2]) * 0.5).astype(np.float32)


def lfcc(windows: F32) -> F32:
    """LFCC + delta + delta-delta of each window (see module doc for the shape)."""
    w = np.asarray(windows, np.float32)
    if w.ndim != 2 or w.shape[1] < _FRAME:
        raise ValueError(f"windows must be (B, L >= {_FRAME}), got {w.shape}")
    fb, hann = _tables()
    pre = np.concatenate([w[:, :1], w[:, 1:] - 0.97 * w[:, :-1]], axis=1)
    n_frames = 1 + (w.shape[1] - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n_frames)[:, None]
    frames = pre[:, idx] * hann  # (B, T, FRAME)
    power = np.abs(rfft(frames, _NFFT, axis=2, workers=1)) ** 2
    logfb = np.log(power.astype(np.float32) @ fb + 1e-8)
    cep = dct(logfb, type=2, axis=2, norm="ortho", workers=1)[:, :, :N_COEFFS]
    cep = np.transpose(cep, (0, 2, 1)).astype(np.float32)  # (B, C, T)
    cep -= cep.mean(axis=2, keepdims=True)
    d1 = _delta(cep)
    return np.concatenate([cep, d1, _delta(d1)], axis=1)
