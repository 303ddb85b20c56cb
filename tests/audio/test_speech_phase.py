"""The phase-sensitive front end (speech_phase) and the phase-jitter pseudo-fakes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import istft, lfilter, stft

from doppelab.detect.speech_fakes import phase_jitter
from doppelab.detect.speech_features import N_FEATURES, spectral_stats
from doppelab.detect.speech_phase import (
    N_ENV,
    N_PHASE,
    N_WINDOW_FEATURES,
    phase_stats,
    subband_envelope_stats,
    window_features,
)
from tests.audio.test_speech_training import voiced

WINDOW = 32_000


def _windows(n: int = 2) -> np.ndarray:
    return np.stack([voiced(2.0, seed) for seed in range(n)])


def test_shape() -> None:
    w = _windows()
    f = phase_stats(w)
    assert f.shape == (2, N_PHASE) and f.dtype == np.float32 and np.isfinite(f).all()
    full = window_features(w, batch=1)
    assert full.shape == (2, N_WINDOW_FEATURES) == (2, N_FEATURES + N_PHASE)
    np.testing.assert_allclose(full[:, :N_FEATURES], spectral_stats(w), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full[:, N_FEATURES:], f, rtol=1e-5, atol=1e-5)
    assert window_features(np.zeros((0, WINDOW), np.float32)).shape == (0, N_WINDOW_FEATURES)


def test_exception() -> None:
    for bad in (np.zeros(WINDOW, np.float32), np.zeros((1, 100), np.float32)):
        with pytest.raises(ValueError):
            phase_stats(bad)
    with pytest.raises(ValueError):
        window_features(np.zeros(WINDOW, np.float32))


def test_gain_invariance() -> None:
    w = _windows()
    np.testing.assert_allclose(phase_stats(w * 7.0), phase_stats(w), rtol=1e-3, atol=1e-3)


def test_phase_jitter_keeps_magnitude_changes_phase() -> None:
    x = voiced(2.0)
    corr = []
    for seed in range(4):
        y = phase_jitter(x, np.random.default_rng(seed))
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
        assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-3)
        assert np.mean((y - x) ** 2) > 1e-4 * np.mean(x ** 2)  # the waveform changed
        corr.append(np.corrcoef(x, y)[0, 1])
    assert max(corr) < 0.95
    _, _, sx = stft(x, nperseg=1024)
    _, _, sy = stft(y, nperseg=1024)
    band = (np.abs(sx) ** 2).mean(axis=1)
    assert np.corrcoef(np.log(band + 1e-9), np.log((np.abs(sy) ** 2).mean(axis=1) + 1e-9))[0, 1] \
        > 0.95  # the long-term spectrum did not


def _pulses(seed: int) -> np.ndarray:
    """A 2 s voiced-speech stand-in: glottal-like impulses (110-140 Hz) through three formants."""
    rng = np.random.default_rng(seed)
    x = np.zeros(WINDOW)
    t = 0.0
    while t < WINDOW:
        x[int(t)] = 1.0
        t += 16_000 / (110 + 30 * rng.random())
    for f in (700, 1200, 2600):
        r, th = 0.96, 2 * np.pi * f / 16_000
        x = lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], x)
    return (0.3 * x / np.abs(x).max() + 0.003 * rng.standard_normal(WINDOW)).astype(np.float32)


def _scramble(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Same STFT magnitude (512/128), uniformly random phase."""
    _, _, spec = stft(x, nperseg=512, noverlap=384)
    _, y = istft(np.abs(spec) * np.exp(2j * np.pi * rng.random(spec.shape)), nperseg=512,
                 noverlap=384)
    return np.asarray(y[: len(x)], np.float32)


def test_phase_stats_see_lost_pulse_alignment() -> None:
    """Pulse-excited speech vs the same magnitudes with random phase: neighbouring bands'
    pitch-rate envelope modulations are less correlated."""
    real = np.stack([_pulses(i) for i in range(3)])
    fake = np.stack([_scramble(x, np.random.default_rng(i)) for i, x in enumerate(real)])
    env_real, env_fake = subband_envelope_stats(real), subband_envelope_stats(fake)
    assert env_real.shape[1] == N_ENV
    for corr in (slice(8, 15), slice(15, 21)):  # bands one and two apart
        assert (env_real[:, corr].mean(axis=1) > env_fake[:, corr].mean(axis=1) + 0.1).all()



def test_channel_copies_keep_shape_and_level() -> None:
    from doppelab.detect.speech_data import channel_copies

    w = _windows(3)
    a = channel_copies(w, np.random.default_rng(0))
    assert a.shape == w.shape and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_allclose(np.sqrt((a ** 2).mean(axis=1)), np.sqrt((w ** 2).mean(axis=1)),
                               rtol=1e-3)
    assert (np.abs(a - w).mean(axis=1) > 1e-3 * np.abs(w).mean(axis=1)).all()  # changed
    np.testing.assert_array_equal(a, channel_copies(w, np.random.default_rng(0)))  # seeded


def test_room_reverberates_and_keeps_level() -> None:
    from doppelab.detect.speech_data import room

    click = np.zeros(16_000, np.float32)
    click[1000] = 1.0
    out = room(click, np.random.default_rng(3))
    assert out.shape == click.shape and out.dtype == np.float32
    assert np.sqrt((out ** 2).mean()) == pytest.approx(np.sqrt((click ** 2).mean()), rel=1e-3)
    tail = np.abs(out[1000 + 1600:]).sum()  # energy more than 0.1 s after the click
    assert tail > 0.01 * np.abs(out).sum()
    np.testing.assert_array_equal(out, room(click, np.random.default_rng(3)))


def test_channel_copies_with_rooms() -> None:
    from doppelab.detect.speech_data import channel_copies

    w = _windows(8)
    plain = channel_copies(w, np.random.default_rng(0))
    rooms = channel_copies(w, np.random.default_rng(0), rooms=True)
    assert rooms.shape == w.shape and np.isfinite(rooms).all()
    assert not np.array_equal(plain, rooms)
    np.testing.assert_array_equal(rooms, channel_copies(w, np.random.default_rng(0), rooms=True))
    np.testing.assert_allclose(np.sqrt((rooms ** 2).mean(axis=1)),
                               np.sqrt((w ** 2).mean(axis=1)), rtol=1e-3)
