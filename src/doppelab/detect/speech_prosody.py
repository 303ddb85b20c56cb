"""Pitch and micro-prosody statistics for the speech detector (a third front end beside
:mod:`doppelab.detect.speech_features` and :mod:`doppelab.detect.speech_phase`).

Rule-driven synthesis (formant and diphone TTS, LPC and WORLD re-synthesis) tends to excite the
vocal tract with a too regular source: the period moves smoothly from frame to frame (no
jitter), voiced frames are more perfectly periodic, the level of voiced frames moves without the
cycle-to-cycle shimmer of a real larynx. These statistics describe that source.

Per 2 s window of 16 kHz speech, decimated to 8 kHz (0-4 kHz: the band a telephone line keeps):
40 ms Hann frames every 20 ms; each frame's power spectrum (512 points) with a floor 50 dB under
the frame's mean power, its inverse FFT the autocorrelation, divided by the Hann window's own
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

Everything per frame, so overlapping windows of one signal share their frames
(:func:`sliding_prosody`, what detection uses; the same statistics up to the decimation filter's
edge at a window's ends).

Shape: windows (B, L) float32, 16 kHz -> (B, 14) float32.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.fft import irfft, rfft

from doppelab.core.blocks import in_blocks
from doppelab.detect.speech_features import window_signal

__all__ = ["N_PROSODY", "PROSODY_VERSION", "prosody_stats", "sliding_prosody"]

F32 = npt.NDArray[np.float32]
_RATE = 8_000  # after decimation
_FRAME, _HOP, _NFFT = 320, 160, 512
_LAG_MIN, _LAG_MAX = _RATE // 400, _RATE * 16 // 1000  # 20..128 samples
_VOICED = 0.5
_FLOOR = 1e-5
N_PROSODY = 14
PROSODY_VERSION = "p2"  # names prosody feature caches
_FRAME_BLOCK = 256  # frames per pass of a long signal (cache-sized)


@functools.lru_cache(maxsize=1)
def _window() -> tuple[F32, F32]:
    """The Hann window and its own normalised autocorrelation (lags 0.._LAG_MAX + 1)."""
    w = np.hanning(_FRAME).astype(np.float32)
    acf = np.correlate(w, w, "full")[_FRAME - 1:_FRAME + _LAG_MAX + 1]
    return w, (acf / acf[0]).astype(np.float32)


def _decimate(x: F32) -> F32:
    """16 kHz -> 8 kHz along the last axis (polyphase anti-alias filter)."""
    from scipy.signal import resample_poly

    return np.asarray(resample_poly(x, 1, 2, axis=-1), np.float32)


def _frame_track(x8: F32) -> tuple[F32, F32, F32]:
    """Frames of 8 kHz audio (..., L) -> periodicity, fractional log period and log level of
    every frame, each (..., T).

    A long signal (L,) goes through in blocks of :data:`_FRAME_BLOCK` frames (every value is
    per frame, so the same values; the temporaries stay in cache)."""
    frames = np.lib.stride_tricks.sliding_window_view(x8, _FRAME, axis=-1)[..., ::_HOP, :]
    if frames.ndim == 2:
        return in_blocks(_track, frames, _FRAME_BLOCK)
    return _track(frames)


def _track(frames: F32) -> tuple[F32, F32, F32]:
    """:func:`_frame_track` of frames (..., T, 320)."""
    w, wacf = _window()
    spec = rfft(frames * w, n=_NFFT, axis=-1, workers=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    power += _FLOOR * power.mean(axis=-1, keepdims=True) + 1e-12
    acf = irfft(power, n=_NFFT, axis=-1, workers=1)[..., :_LAG_MAX + 2].astype(np.float32)
    level = np.log(acf[..., 0]).astype(np.float32)
    height, logp = _peaks(acf / acf[..., :1] / wacf)
    return height, logp, level


def _peaks(nacf: F32) -> tuple[F32, F32]:
    """Periodicity (peak height) and fractional log period of every frame. (..., T) each."""
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


def _nan_where(mask: npt.NDArray[np.bool_], v: F32) -> F32:
    return np.where(mask, v, np.float32(np.nan))


def _quantile_rows(a: F32, q: float) -> F32:
    """``np.nanquantile(a, q, axis=1)`` (linear interpolation) of rows that hold at least one
    number, vectorised: one sort of all rows (NaN sort last) instead of numpy's per-row loop.
    Equal to numpy's to float32 rounding (the interpolation runs in float64)."""
    s = np.sort(a, axis=1)
    n = (~np.isnan(a)).sum(axis=1)
    pos = (n - 1) * q
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    t = pos - lo
    x = np.take_along_axis(s, lo[:, None], axis=1)[:, 0].astype(np.float64)
    y = np.take_along_axis(s, hi[:, None], axis=1)[:, 0].astype(np.float64)
    return np.where(t >= 0.5, y - (y - x) * (1 - t), x + (y - x) * t).astype(np.float32)


def _median_rows(a: F32) -> F32:
    """``np.nanmedian(a, axis=1)`` of rows that hold at least one number, vectorised: the
    middle value, or the mean of the two middle ones (float32, as numpy)."""
    s = np.sort(a, axis=1)
    n = (~np.isnan(a)).sum(axis=1)
    x = np.take_along_axis(s, ((n - 1) // 2)[:, None], axis=1)[:, 0]
    y = np.take_along_axis(s, (n // 2)[:, None], axis=1)[:, 0]
    return np.asarray((x + y) / np.float32(2), np.float32)


def _std_rows(v: F32, mask: npt.NDArray[np.bool_]) -> F32:
    """``np.nanstd`` of ``v`` over ``mask`` per row (rows with at least one True), as numpy
    computes it: the mean of the kept values, then the mean squared deviation."""
    n = mask.sum(axis=1)
    avg = np.where(mask, v, np.float32(0)).sum(axis=1) / n
    d = np.where(mask, v - avg[:, None].astype(np.float32), np.float32(0))
    return np.asarray(np.sqrt((d * d).sum(axis=1) / n), np.float32)


def _diff_stats(v: F32, voiced: npt.NDArray[np.bool_], jump: float | None) -> F32:
    """Per row of (W, T): median and mean |first difference|, median |second difference| and
    the share of first differences under 0.3% of ``v`` over runs of consecutive voiced frames
    (first differences over ``jump``, second ones over twice that, dropped). (W, 4); zeros for
    a row with fewer than 3 first differences (the median of the second ones needs 3 too)."""
    both = voiced[:, 1:] & voiced[:, :-1]
    d1 = np.abs(np.diff(v, axis=1))
    three = both[:, 1:] & both[:, :-1]
    d2 = np.abs(np.diff(v, 2, axis=1))
    if jump is not None:
        both = both & (d1 < jump)
        three = three & (d2 < 2 * jump)
    n1, n2 = both.sum(axis=1), three.sum(axis=1)
    a1 = _nan_where(both, d1)
    out = np.zeros((len(v), 4), np.float32)
    ok = n1 >= 3
    if ok.any():
        out[ok, 0] = _median_rows(a1[ok])
        out[ok, 1] = np.nanmean(a1[ok], axis=1)
        out[ok, 3] = (both & (d1 < 0.003))[ok].sum(axis=1) / n1[ok]
        ok2 = ok & (n2 >= 3)
        if ok2.any():
            out[ok2, 2] = _median_rows(_nan_where(three, d2)[ok2])
    return out


def _batch_stats(height: F32, logp: F32, level: F32) -> F32:
    """Frame tracks (W, T) of W windows -> (W, 14) statistics (see module doc)."""
    voiced = height > _VOICED
    nv = voiced.sum(axis=1)
    out = np.zeros((len(height), N_PROSODY), np.float32)
    out[:, 0] = voiced.mean(axis=1)
    out[:, 5] = height.mean(axis=1)
    ok = nv >= 3
    if ok.any():
        vh = _nan_where(voiced, height)[ok]
        out[ok, 1] = np.nanmean(vh, axis=1)
        out[ok, 2] = _std_rows(height[ok], voiced[ok])
        out[ok, 3] = _quantile_rows(vh, 0.9)
        out[ok, 4] = (voiced & (height > 0.9))[ok].sum(axis=1) / nv[ok]
        out[ok, 6] = _std_rows(logp[ok], voiced[ok])
    out[:, 7:11] = _diff_stats(logp, voiced, 0.2)
    out[:, 11:14] = _diff_stats(level, voiced, None)[:, :3]
    return out


def _check(windows: F32) -> F32:
    w = np.asarray(windows, np.float32)
    if w.ndim != 2 or w.shape[1] < 8 * _FRAME:
        raise ValueError(f"windows must be (B, L >= {8 * _FRAME}), got {w.shape}")
    return w


def prosody_stats(windows: F32, batch: int = 64) -> F32:
    """Pitch and micro-prosody statistics of each window (see module doc). (B, L) -> (B, 14)."""
    w = _check(windows)
    if not len(w):
        return np.zeros((0, N_PROSODY), np.float32)
    return in_blocks(lambda b: _batch_stats(*_frame_track(_decimate(b))), w, batch)


def sliding_prosody(signal: F32, length: int, hop: int, count: int) -> F32:
    """:func:`prosody_stats` of the ``count`` windows ``signal[k hop : k hop + length]``, each
    frame computed once: the signal is decimated and tracked once and each window takes its
    frames (windows must start on the 20 ms frame grid: ``hop`` a multiple of 320 samples;
    other hops fall back to :func:`prosody_stats`). Equal to :func:`prosody_stats` up to the
    decimation filter's edge at each window's ends.
    Shape: ``signal`` (N,), N >= (count - 1) hop + length -> (count, 14) float32.
    """
    x = window_signal(signal, length, hop, count, min_length=8 * _FRAME)
    if count == 0:
        return np.zeros((0, N_PROSODY), np.float32)
    if hop % (2 * _HOP) or length % 2:
        return prosody_stats(np.stack([x[k * hop:k * hop + length] for k in range(count)]))
    height, logp, level = _frame_track(_decimate(x[:(count - 1) * hop + length]))
    per_window = 1 + (length // 2 - _FRAME) // _HOP
    idx = (np.arange(count) * hop // (2 * _HOP))[:, None] + np.arange(per_window)[None, :]
    return _batch_stats(height[idx], logp[idx], level[idx])
