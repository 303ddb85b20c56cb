"""Per-frame signals: mouth opening and lip shape from landmarks, speech energy and log-mel audio.

Convention: every signal is sampled at the video frames' times ``times`` (seconds from the first
frame); audio features for frame ``i`` summarise the audio in ``[times[i] - 0.5/fps,
times[i] + 0.5/fps)`` (energy) or a fixed window centred on ``times[i]`` (log-mel).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from doppelab.audio.mel import mel_filterbank
from doppelab.detect.avsync.streams import (
    KEPT_INDEX,
    LIPS_INNER,
    LIPS_OUTER,
    SAMPLE_RATE,
    AudioTrack,
    FaceTrack,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# inner-lip pairs (upper, lower) across the mouth, MediaPipe FaceMesh indices
INNER_PAIRS = ((81, 178), (82, 87), (13, 14), (312, 317), (311, 402))
HOP = 160  # 10 ms at 16 kHz
WIN = 400  # 25 ms
N_MELS = 40
MEL_RATE = SAMPLE_RATE // HOP  # 100 feature frames a second
LIP_POINTS = tuple(dict.fromkeys(LIPS_OUTER + LIPS_INNER))


def centred_sum(x: npt.ArrayLike, width: int) -> F64:
    """Sum of ``x`` over a centred window of ``width`` (odd) samples, same length as ``x`` even
    when ``x`` is shorter than the window (``np.convolve(mode="same")`` is not)."""
    a = np.asarray(x, np.float64)
    full = np.convolve(a, np.ones(width), mode="full")
    return np.asarray(full[(width - 1) // 2 : (width - 1) // 2 + len(a)])


def _pts(track: FaceTrack, ids: tuple[int, ...]) -> F64:
    return track.points[:, [KEPT_INDEX[i] for i in ids]].astype(np.float64)


def face_size(track: FaceTrack) -> F64:
    """``(T,)`` inter-ocular distance (outer eye corners 33-263) in px; NaN where no face."""
    eyes = _pts(track, (33, 263))
    return np.asarray(np.linalg.norm(eyes[:, 0] - eyes[:, 1], axis=1))


def mouth_opening(track: FaceTrack) -> F64:
    """``(T,)`` mean inner-lip gap over five upper/lower pairs divided by the face size."""
    upper = _pts(track, tuple(p[0] for p in INNER_PAIRS))
    lower = _pts(track, tuple(p[1] for p in INNER_PAIRS))
    gap = np.linalg.norm(upper - lower, axis=2).mean(axis=1)
    return np.asarray(gap / np.maximum(face_size(track), 1e-6))


def lip_shape(track: FaceTrack) -> F32:
    """``(T, 2 * len(LIP_POINTS))`` lip landmarks in a face frame: origin at the mouth centre,
    x along the eye line, unit = inter-ocular distance (translation, scale and roll removed).
    NaN rows where no face."""
    eyes = _pts(track, (33, 263))
    lips = _pts(track, LIP_POINTS)
    axis = eyes[:, 1] - eyes[:, 0]
    size = np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-6)
    ux = axis / size
    uy = np.stack([-ux[:, 1], ux[:, 0]], axis=1)
    rel = lips - lips.mean(axis=1, keepdims=True)
    x = np.einsum("tpc,tc->tp", rel, ux) / size
    y = np.einsum("tpc,tc->tp", rel, uy) / size
    return np.concatenate([x, y], axis=1).astype(np.float32)


def _power_frames(samples: F32) -> F64:
    """``(n_hops, WIN // 2 + 1)`` power spectra, hop 10 ms, Hann 25 ms, centred on each hop."""
    pad = np.pad(samples.astype(np.float64), (WIN // 2, WIN // 2))
    n = max(0, (len(pad) - WIN) // HOP + 1)
    if n == 0:
        return np.zeros((0, WIN // 2 + 1))
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    frames = pad[idx] * np.hanning(WIN)[None, :]
    return np.asarray(np.abs(np.fft.rfft(frames, axis=1)) ** 2)


def log_mel(audio: AudioTrack) -> F32:
    """``(n_hops, N_MELS)`` log-mel energies at 100 Hz; row ``j`` is centred at
    ``audio.start_s + j / 100`` s. Level-normalised: the clip's loud frames sit near 0."""
    power = _power_frames(audio.samples)
    mel = np.log(power @ mel_filterbank(N_MELS, WIN, fmin=60.0, fmax=7600.0).T + 1e-8)
    if len(mel):
        mel -= np.percentile(mel.max(axis=1), 95)
    return np.maximum(mel, -12.0).astype(np.float32)


def speech_energy(audio: AudioTrack, times: F64, fps: float) -> F64:
    """``(T,)`` log energy of the 300-3400 Hz band over each video frame's interval (dB-like,
    natural log). Frames outside the audio get the clip's minimum."""
    power = _power_frames(audio.samples)
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, power.shape[1])
    band = power[:, (freqs >= 300.0) & (freqs <= 3400.0)].sum(axis=1)
    log_band = np.log(band + 1e-8)
    floor = float(log_band.min()) if len(log_band) else 0.0
    hop_t = audio.start_s + np.arange(len(log_band)) / MEL_RATE
    out = np.full(len(times), floor)
    half = 0.5 / fps
    lo = np.searchsorted(hop_t, times - half)
    hi = np.searchsorted(hop_t, times + half)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b > a:
            out[i] = float(np.log(np.mean(np.exp(log_band[a:b] - floor))) + floor)
    return out
