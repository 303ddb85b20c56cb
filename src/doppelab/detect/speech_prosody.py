"""Pitch and micro-prosody statistics for the speech detector (a third front end beside
:mod:`doppelab.detect.speech_features` and :mod:`doppelab.detect.speech_phase`).

Rule-driven synthesis (formant and diphone TTS, LPC and WORLD re-synthesis) tends to excite the
vocal tract with a too regular source: the period moves smoothly from frame to frame (no
jitter), voiced frames are more perfectly periodic, the level of voiced frames moves without the
cycle-to-cycle shimmer of a real larynx. These statistics describe that source.

Per 2 s window of 16 kHz speech: 40 ms Hann frames every 10 ms; each frame's power spectrum up to
4 kHz (the band a telephone line keeps) with a floor 50 dB under the window's mean power (as the
other front ends), its inverse FFT the autocorrelation, divided by the Hann window's own
autocorrelation and by lag 0 (normalised autocorrelation, NACF). Per frame: the NACF peak in
lags of 2.5-16 ms (62.5-400 Hz) with parabolic interpolation (a fractional period) and its
height (periodicity). Frames whose peak is over 0.5 are voiced. Per window
(:data:`N_PROSODY` values):

* voiced fraction; periodicity of voiced frames: mean, standard deviation, 90th percentile,
  fraction above 0.9; periodicity of all frames: mean;
* log period of voiced frames: standard deviation; between consecutive voiced frames: median
  and mean absolute first difference (jitter-like; differences over 20% are octave jumps and
  dropped), median absolute second difference (micro-prosody), fraction of first differences
  under 0.3% (a flat contour);
* log level of voiced frames between consecutive voiced frames: median and mean absolute first
  difference (shimmer-like), median absolute second difference.

Shape: windows (B, L) float32, 16 kHz -> (B, 14) float32.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.fft import irfft, rfft

__all__ = ["N_PROSODY", "prosody_stats"]

F32 = npt.NDArray[np.float32]
_RATE = 16_000
_FRAME, _HOP, _NFFT = 640, 160, 1024
_MAX_BIN = _NFFT * 4000 // _RATE  # 0-4 kHz
_LAG_MIN, _LAG_MAX = _RATE // 400, _RATE * 16 // 1000  # 40..256 samples
_VOICED = 0.5
_FLOOR = 1e-5
N_PROSODY = 14


@functools.lru_cache(maxsize=1)
def _window() -> tuple[F32, F32]:
    """The Hann window and its own normalised autocorrelation (lags 0.._LAG_MAX + 1)."""
    w = np.hanning(_FRAME).astype(np.float32)
    acf = np.correlate(w, w, "full")[_FRAME - 1:_FRAME + _LAG_MAX + 1]
    return w, (acf / acf[0]).astype(np.float32)


def _nacf(windows: F32) -> tuple[F32, F32]:
    """(B, L) -> normalised autocorrelation (B, T, _LAG_MAX + 2) and log frame power (B, T)."""
    w, wacf = _window()
    frames = np.lib.stride_tricks.sliding_window_view(windows, _FRAME, axis=1)[:, ::_HOP]
    spec = rfft(frames * w, n=_NFFT, axis=-1, workers=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    power[..., _MAX_BIN:] = 0.0
    floor = _FLOOR * power[..., :_MAX_BIN].mean(axis=(1, 2), keepdims=True) + 1e-12
    power[..., :_MAX_BIN] += floor
    acf = irfft(power, n=_NFFT, axis=-1, workers=1)[..., :_LAG_MAX + 2].astype(np.float32)
    level = np.log(acf[..., 0] + 1e-12)
    return acf / (acf[..., :1] + 1e-12) / wacf, level


def _peaks(nacf: F32) -> tuple[F32, F32]:
    """Periodicity (peak height) and fractional log period of every frame. (B, T) each."""
    seg = nacf[..., _LAG_MIN:_LAG_MAX + 1]
    k = np.argmax(seg, axis=-1)
    lag = k + _LAG_MIN
    idx = lag[..., None] + np.array([-1, 0, 1])
    a, b, c = np.moveaxis(np.take_along_axis(nacf, idx, axis=-1), -1, 0)
    den = a - 2 * b + c
    off = np.where(np.abs(den) > 1e-9, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    off = np.clip(off, -0.5, 0.5)
    height = np.minimum(b - 0.25 * (a - c) * off, 1.0)
    return height.astype(np.float32), np.log(lag + off).astype(np.float32)


def _diff_stats(v: F32, voiced: npt.NDArray[np.bool_], jump: float | None) -> list[float]:
    """Median and mean |first difference| and median |second difference| of ``v`` over runs of
    consecutive voiced frames (first differences over ``jump`` dropped)."""
    both = voiced[1:] & voiced[:-1]
    d1 = np.diff(v)[both]
    if jump is not None:
        d1 = d1[np.abs(d1) < jump]
    three = both[1:] & both[:-1]
    d2 = np.diff(v, 2)[three]
    if jump is not None:
        d2 = d2[np.abs(d2) < 2 * jump]
    if len(d1) < 3:
        return [0.0, 0.0, 0.0, 0.0]
    med2 = float(np.median(np.abs(d2))) if len(d2) >= 3 else 0.0
    return [float(np.median(np.abs(d1))), float(np.abs(d1).mean()), med2,
            float((np.abs(d1) < 0.003).mean())]


def _window_stats(height: F32, logp: F32, level: F32) -> list[float]:
    voiced = height > _VOICED
    vh = height[voiced]
    out = [float(voiced.mean())]
    if len(vh) >= 3:
        out += [float(vh.mean()), float(vh.std()), float(np.percentile(vh, 90)),
                float((vh > 0.9).mean()), float(height.mean()), float(logp[voiced].std())]
    else:
        out += [0.0, 0.0, 0.0, 0.0, float(height.mean()), 0.0]
    out += _diff_stats(logp, voiced, 0.2)
    out += _diff_stats(level, voiced, None)[:3]
    return out


def prosody_stats(windows: F32, batch: int = 32) -> F32:
    """Pitch and micro-prosody statistics of each window (see module doc). (B, L) -> (B, 14)."""
    w = np.asarray(windows, np.float32)
    if w.ndim != 2 or w.shape[1] < 4 * _FRAME:
        raise ValueError(f"windows must be (B, L >= {4 * _FRAME}), got {w.shape}")
    rows: list[list[float]] = []
    for i in range(0, len(w), batch):
        nacf, level = _nacf(w[i:i + batch])
        height, logp = _peaks(nacf)
        rows += [_window_stats(height[j], logp[j], level[j]) for j in range(len(height))]
    return np.asarray(rows, np.float32).reshape(len(w), N_PROSODY)
