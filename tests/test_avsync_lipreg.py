"""The audio-to-mouth ridge model of the sync analysis: inputs, fit, lag curve, weights file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from doppelab.core.errors import UsageError
from doppelab.detect.avsync.features import ClipFeatures
from doppelab.detect.avsync.lipreg import (
    BANDS,
    CONTEXT_MS,
    LIPREG_WEIGHTS,
    STEP_MS,
    LipReg,
    combine,
    design,
    fit_lipreg,
)
from doppelab.detect.avsync.signals import N_MELS

FPS = 25.0
N_INPUTS = (2 * CONTEXT_MS // STEP_MS + 1) * BANDS


def clip(seed: int, frames: int = 250, shift_frames: float = 0.0) -> ClipFeatures:
    """A clip whose mouth opening follows a syllable-like envelope and whose low mel bands carry
    the same envelope 40 ms later (sound follows the mouth); the audio track starts
    ``shift_frames`` late."""
    rng = np.random.default_rng(seed)
    env = np.convolve(rng.normal(size=frames + 40), np.hanning(9), mode="same")[20:-20]
    times = np.arange(frames) / FPS
    hops = np.arange(int(frames / FPS * 100)) / 100.0
    sound = np.interp(hops - 0.04, times, env)
    profile = np.linspace(1.0, 0.2, N_MELS)
    mel = sound[:, None] * profile[None, :] + 0.3 * rng.normal(size=(len(hops), N_MELS))
    return ClipFeatures(
        times=times, fps=FPS, lips=np.zeros((frames, 4), np.float32), mouth=env + 5.0,
        energy=np.zeros(frames), speech=np.ones(frames, bool), mel=mel.astype(np.float32),
        mel_start=shift_frames / FPS)


def test_design_shape_and_edges() -> None:
    f = clip(0)
    x = design(f, 0)
    assert x.shape == (250, N_INPUTS)
    assert np.isnan(x[0]).any() and np.isfinite(x[100]).all()  # context leaves the audio at 0
    # a lag of k frames reads the inputs of frame t + k
    np.testing.assert_allclose(design(f, 3)[100], x[103], atol=1e-9)


@pytest.mark.parametrize("shift", [-8, -3, 0, 2, 6])
def test_curve_peaks_at_the_shift(shift: int) -> None:
    model = fit_lipreg([clip(s) for s in range(1, 4)], max_lag=15)
    f = clip(10, shift_frames=shift)
    curve = model.curve(f, np.ones(250, bool), 15)
    assert curve is not None and curve.shape == (31,)
    assert int(np.argmax(curve)) - 15 == shift
    assert curve.max() > 0.8


def test_unrelated_audio_matches_no_lag() -> None:
    model = fit_lipreg([clip(s) for s in range(1, 4)], max_lag=15)
    f = clip(11)
    dubbed = replace(f, mel=clip(12).mel)
    curve = model.curve(dubbed, np.ones(250, bool), 15)
    assert curve is not None and curve.max() < 0.5


def test_curve_needs_frames() -> None:
    model = fit_lipreg([clip(1)], max_lag=15)
    rows = np.zeros(250, bool)
    rows[100:110] = True
    assert model.curve(clip(2), rows, 15) is None


def test_fit_needs_usable_frames() -> None:
    f = clip(1)
    with pytest.raises(UsageError):
        fit_lipreg([replace(f, speech=np.zeros(250, bool))], max_lag=15)


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = fit_lipreg([clip(1), clip(2)], max_lag=15)
    model = replace(model, decision={"score": "abs_offset", "a": 0.8, "b": -2.7})
    model.save(tmp_path / "m.npz")
    back = LipReg.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.weights, model.weights)
    assert back.decision == model.decision
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_load_refuses_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(UsageError):
        LipReg.load(bad)
    with pytest.raises(UsageError):
        LipReg.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, x_mean=np.zeros(3), x_std=np.ones(3), weights=np.zeros(3),
             meta=np.asarray('{"context_ms": 100, "step_ms": 20, "bands": 8}'))
    with pytest.raises(UsageError, match="do not match"):
        LipReg.load(other)


def test_shipped_weights_load() -> None:
    model = LipReg.load(LIPREG_WEIGHTS)
    assert model.weights.shape == (N_INPUTS,)
    assert model.decision is not None and model.decision["score"] == "abs_offset"
    assert model.decision["a"] > 0  # a larger offset is more likely out of sync


def test_combine_standardises() -> None:
    a = np.array([0.0, 1.0, 2.0, 1.0, 0.0])
    out = combine([a, 100.0 * a + 7.0])
    np.testing.assert_allclose(out, (a - a.mean()) / a.std(), atol=1e-9)


def _synthetic(frames: int) -> ClipFeatures:
    from doppelab.detect.avsync.features import clip_features
    from doppelab.detect.avsync.streams import AudioTrack

    from .test_avsync import bursts, synthetic_track

    audio = bursts(frames / FPS + 1.0, seed=3)
    env = np.maximum(0.0, np.sin(np.arange(frames) / FPS * 2 * np.pi * 4)) ** 2
    feats = clip_features(synthetic_track(8.0 * env), AudioTrack(samples=audio, start_s=0.0))
    return replace(feats, speech=np.ones(frames, bool))  # noise bursts are not speech to the VAD


def test_analysis_combines_the_curves_with_the_models_own_decision() -> None:
    from doppelab.detect.avsync.analyse import sync_from_features
    from doppelab.detect.avsync.net import WEIGHTS, load_members

    members, meta = load_members(WEIGHTS)
    model = LipReg.load(LIPREG_WEIGHTS)
    feats = _synthetic(150)
    both = sync_from_features(feats, members, meta.get("decision"), model)
    alone = sync_from_features(feats, members, meta.get("decision"))
    assert both.status == alone.status == "ok"
    assert (both.method, alone.method) == ("syncnet+lipreg", "syncnet")
    assert model.decision is not None and both.offset_frames is not None
    assert both.decision_score == pytest.approx(abs(both.offset_frames))  # abs_offset
    assert alone.decision_score != both.decision_score
    assert both.in_sync_probability == alone.in_sync_probability  # the network's own lag 0


def test_short_clip_keeps_the_network_alone() -> None:
    from doppelab.detect.avsync.analyse import sync_from_features
    from doppelab.detect.avsync.net import WEIGHTS, load_members

    members, meta = load_members(WEIGHTS)
    feats = _synthetic(28)  # enough frames for the network's curve, too few for the ridge's
    res = sync_from_features(feats, members, meta.get("decision"), LipReg.load(LIPREG_WEIGHTS))
    assert res.status == "ok" and res.method == "syncnet"
