"""Mel filterbanks: the one set of triangular mel filters every audio feature here uses.

Two mel scales are in use: HTK (``2595 log10(1 + f / 700)``; the MelGAN-like vocoder and the
AV-sync log-mel) and Slaney (linear below 1 kHz, logarithmic above; Resemblyzer's speaker
encoder was trained on it, with Slaney's area normalisation). Filters are spaced evenly on the
chosen scale between ``fmin`` and ``fmax``; filter ``i`` rises from edge ``i`` to ``i + 1`` and
falls to ``i + 2``, over the bins of an ``n_fft``-point real FFT.

Shape: ``(n_mels, n_fft // 2 + 1)`` float64 (callers cast).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from doppelab.audio.decode import SAMPLE_RATE
from doppelab.core.errors import UsageError

__all__ = ["hz_to_mel", "mel_filterbank", "mel_to_hz"]

F64 = npt.NDArray[np.float64]
_SLANEY_STEP = 200.0 / 3  # Hz per mel below 1 kHz
_SLANEY_LOG = np.log(6.4) / 27  # log-Hz per mel above 1 kHz


def hz_to_mel(f: npt.ArrayLike, scale: str = "htk") -> F64:
    """Frequency (Hz) -> mel on the ``htk`` or ``slaney`` scale."""
    hz = np.asarray(f, np.float64)
    if scale == "htk":
        return np.asarray(2595.0 * np.log10(1.0 + hz / 700.0))
    return np.asarray(np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1e-9) / 1000) / _SLANEY_LOG,
                               hz / _SLANEY_STEP))


def mel_to_hz(m: npt.ArrayLike, scale: str = "htk") -> F64:
    """Mel on the ``htk`` or ``slaney`` scale -> frequency (Hz)."""
    mel = np.asarray(m, np.float64)
    if scale == "htk":
        return np.asarray(700.0 * (10.0 ** (mel / 2595.0) - 1.0))
    return np.asarray(np.where(mel >= 15, 1000 * np.exp(_SLANEY_LOG * (mel - 15)),
                               mel * 200.0 / 3))  # (m * 200) / 3, as Resemblyzer


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = SAMPLE_RATE, *,
                   fmin: float = 0.0, fmax: float | None = None, scale: str = "htk",
                   norm: str | None = None) -> F64:
    """Triangular mel filters (see module doc); ``norm="slaney"`` scales each filter to unit
    area (``2 / (upper edge - lower edge)``).

    Raises:
        UsageError: an unknown scale or norm, or bands that do not fit.
    """
    if scale not in ("htk", "slaney") or norm not in (None, "slaney"):
        raise UsageError(f"mel scale must be htk or slaney and norm None or slaney, got "
                         f"{scale!r}, {norm!r}")
    top = sample_rate / 2 if fmax is None else fmax
    if n_mels < 1 or n_fft < 2 or not 0 <= fmin < top <= sample_rate / 2:
        raise UsageError(f"bad mel bank: {n_mels} bands, {n_fft}-point FFT, {fmin}-{top} Hz "
                         f"at {sample_rate} Hz")
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(top, scale), n_mels + 2),
                      scale)
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-6)
    down = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-6)
    bank = np.maximum(0.0, np.minimum(up, down))
    if norm == "slaney":
        bank = bank * (2.0 / (hi - lo))
    return np.asarray(bank)
