"""The speech detector's front end: spectral envelope and fine-structure statistics per window.

Per 2 s window of 16 kHz speech: pre-emphasis 0.97, 20 ms Hann frames every 10 ms, 512-point
log power spectrum (0-8 kHz, 256 bins) over a floor 50 dB under the window's mean power, with
the window's mean log level removed (so gain is not a cue). Two views, each in 32 linear bands
of 250 Hz:

* envelope: band means per frame -> over time: mean, standard deviation, mean absolute frame
  difference, 90th - 10th percentile spread (4 x 32);
* fine structure: the log spectrum minus its 9-bin moving average (harmonics against the noise
  between them, where vocoders and phase reconstruction leave traces) -> per band: standard
  deviation, mean absolute frame difference (2 x 32).

Chosen by measurement on our train windows (held-out recordings, every fake family, every codec
condition): an LFCC + 2-D CNN could not be trained far enough on this shared CPU (3 s per batch;
EER 0.44 after three epochs), envelope statistics alone gave EER 0.23, adding the fine structure
0.16 (see the model card).

Shape: windows (B, L) float32 -> features (B, 192) float32.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.fft import rfft
from scipy.ndimage import uniform_filter1d

__all__ = ["N_FEATURES", "spectral_stats"]

_FRAME, _HOP, _NFFT, _BANDS = 320, 160, 512, 32
# Power floor, relative to the window's mean power (-50 dB): what lies below (resampler leakage
# in a band a codec or telephone line emptied, dither, numerical noise) is the same for every
# input, so band-limited audio looks alike whichever filter band-limited it.
_FLOOR = 1e-5
N_FEATURES = 6 * _BANDS
F32 = npt.NDArray[np.float32]


@functools.lru_cache(maxsize=1)
def _hann() -> F32:
    return np.hanning(_FRAME).astype(np.float32)


def _log_spectrum(w: F32) -> F32:
    """(B, L) -> (B, T, 256) log power, the window's mean level removed."""
    pre = np.concatenate([w[:, :1], w[:, 1:] - 0.97 * w[:, :-1]], axis=1)
    n = 1 + (w.shape[1] - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n)[:, None]
    power = np.abs(rfft(pre[:, idx] * _hann(), _NFFT, axis=2, workers=1))[:, :, :_NFFT // 2]
    power = power.astype(np.float32) ** 2
    floor = _FLOOR * power.mean(axis=(1, 2), keepdims=True) + 1e-12
    s = np.log(power + floor)
    return s - s.mean(axis=(1, 2), keepdims=True)


def spectral_stats(windows: F32) -> F32:
    """Envelope and fine-structure statistics of each window (see module doc)."""
    w = np.asarray(windows, np.float32)
    if w.ndim != 2 or w.shape[1] < 2 * _FRAME:
        raise ValueError(f"windows must be (B, L >= {2 * _FRAME}), got {w.shape}")
    s = _log_spectrum(w)
    b, t, _ = s.shape
    band = s.reshape(b, t, _BANDS, -1).mean(axis=3)
    fine = (s - uniform_filter1d(s, 9, axis=2)).reshape(b, t, _BANDS, -1)
    d_band = np.abs(np.diff(band, axis=1))
    d_fine = np.abs(np.diff(fine, axis=1))
    spread = np.percentile(band, 90, axis=1) - np.percentile(band, 10, axis=1)
    feats = [band.mean(axis=1), band.std(axis=1), d_band.mean(axis=1), spread,
             fine.std(axis=(1, 3)), d_fine.mean(axis=(1, 3))]
    return np.concatenate(feats, axis=1).astype(np.float32)
