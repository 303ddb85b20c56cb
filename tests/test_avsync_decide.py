"""Audio-visual sync: decision scores, Platt calibration, ensembles, CV scoring of stored curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from doppelab.core.errors import UsageError
from doppelab.detect.avsync.decide import (
    curve_scores,
    fit_platt,
    platt_probability,
    read_decision,
)
from doppelab.detect.avsync.features import clip_features, lag_logits
from doppelab.detect.avsync.net import (
    SyncNet,
    SyncNetConfig,
    load_members,
    save_weights,
)
from doppelab.detect.avsync.streams import AudioTrack

from .test_avsync import bursts, smooth_noise, synthetic_track


def peaked(at: int, width: float = 2.0, n: int = 31) -> np.ndarray:
    lags = np.arange(n) - n // 2
    return np.exp(-0.5 * ((lags - at) / width) ** 2)


def test_curve_scores_smoke() -> None:
    good, bad = curve_scores(peaked(0)), curve_scores(peaked(6))
    assert good["abs_offset"] == 0.0 and good["drop0"] == pytest.approx(0.0)
    assert bad["abs_offset"] == 6.0 and bad["drop0"] > 0.9
    assert good["far_near"] < 0 < bad["far_near"]
    assert good["z0"] < 0 < bad["z0"]
    # scale and level of the curve do not matter for the shape scores
    moved = curve_scores(3.0 * peaked(6) - 7.0)
    assert moved["drop0"] == pytest.approx(bad["drop0"])
    assert moved["z0"] == pytest.approx(bad["z0"])
    assert curve_scores(peaked(0), offset=0.4)["abs_offset"] == pytest.approx(0.4)


@pytest.mark.parametrize("curve", [np.zeros(30), np.zeros(5), np.full(31, np.nan),
                                   np.zeros((2, 31))])
def test_curve_scores_exception(curve: np.ndarray) -> None:
    with pytest.raises(UsageError):
        curve_scores(curve)


def test_fit_platt_puts_half_between_the_classes() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(0.2, 0.1, 15), rng.normal(0.9, 0.1, 300)
    a, b = fit_platt(list(real) + list(fake), [0] * 15 + [1] * 300)
    assert a > 0
    assert platt_probability(0.2, a, b) < 0.2 and platt_probability(0.9, a, b) > 0.8
    # class-balanced: the 0.5 point sits near the middle, not pushed by the 20:1 imbalance
    assert -b / a == pytest.approx(0.55, abs=0.1)


def test_fit_platt_exception() -> None:
    with pytest.raises(UsageError):
        fit_platt([0.1, 0.2], [1, 1])
    with pytest.raises(UsageError):
        fit_platt([0.1, 0.2], [0, 1, 1])


def test_ensemble_roundtrip_averages_members(tmp_path: Path) -> None:
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(SyncNet(SyncNetConfig(lip_norm="rms")).eval())
    path = tmp_path / "ens.npz"
    save_weights(members, path, {"decision": {"score": "drop0", "a": 2.0, "b": -1.0}})
    got, meta = load_members(path)
    assert len(got) == 2 and meta["members"] == 2 and meta["decision"]["score"] == "drop0"
    feats = clip_features(synthetic_track(np.abs(smooth_noise(50, 5)) * 10),
                          AudioTrack(samples=bursts(2.4, seed=2), start_s=0.0))
    each = [lag_logits(m, feats, 6) for m in got]
    mean = lag_logits(got, feats, 6)
    ok = np.isfinite(mean)
    assert ok.any() and not np.allclose(each[0][ok], each[1][ok])
    np.testing.assert_allclose(mean[ok], (each[0][ok] + each[1][ok]) / 2, atol=1e-6)
    np.testing.assert_allclose(lag_logits(members[0], feats, 6)[ok], each[0][ok], atol=1e-6)
    assert torch.equal(got[0].scale, members[0].scale)


@pytest.mark.parametrize("lip_input,mel_input", [("velocity", "mel"), ("both", "delta")])
def test_input_variants_shape(lip_input: str, mel_input: str) -> None:
    net = SyncNet(SyncNetConfig(lip_input=lip_input, mel_input=mel_input)).eval()
    v = net.embed_visual(torch.randn(3, 5, 80))
    a = net.embed_audio(torch.randn(3, 20, 40))
    assert v.shape == a.shape == (3, 64)
    assert net.logit(v, a).shape == (3,)


def test_input_variants_exception() -> None:
    with pytest.raises(UsageError):
        SyncNetConfig(lip_input="shape")
    with pytest.raises(UsageError):
        SyncNetConfig(mel_input="mfcc")


def test_fake_probability_uses_the_shipped_decision() -> None:
    from doppelab.detect.avsync.analyse import fake_probability, out_of_sync_probability

    p, score = fake_probability(peaked(6), 6.0, 25.0)
    assert score is None and p == out_of_sync_probability(6.0, 25.0)
    decision = {"score": "drop0", "a": 8.0, "b": -4.0}
    p_bad, s_bad = fake_probability(peaked(6), 6.0, 25.0, decision)
    p_good, s_good = fake_probability(peaked(1), 1.0, 25.0, decision)
    assert s_bad is not None and s_good is not None and s_bad > s_good
    assert p_bad > 0.9 and p_good < 0.5
    with pytest.raises(UsageError):
        fake_probability(peaked(0), 0.0, 25.0, {"score": "nope", "a": 1.0, "b": 0.0})


def _cv_file(path: Path, bias: float, noise: int) -> Path:
    """A cv result file whose held-out curves peak at the shift plus ``bias``."""
    rng = np.random.default_rng(noise)
    rows = []
    for fold in (0, 1):
        for clip in (f"a{fold}", f"b{fold}"):
            res = {}
            for cond in ("0", "-6", "3", "10", f"swap:x{fold}"):
                at = 14 if cond.startswith("swap") else int(cond)
                at = int(np.clip(round(at + bias), -15, 15))
                curve = peaked(at) + 0.01 * rng.normal(size=31)
                res[cond] = {"mean": {"offset": float(at), "confidence": 1.0,
                                      "curve": [float(x) for x in curve]}}
            rows.append({"fold": fold, "step": 200, "clip": clip, "results": res})
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_cvscore_ensemble_of_stored_curves(tmp_path: Path) -> None:
    from doppelab.detect.avsync.cvscore import evaluate, load_curves

    a = _cv_file(tmp_path / "a.json", 0.0, 1)
    b = _cv_file(tmp_path / "b.json", 0.0, 2)
    curves = load_curves([a, b], 200)
    assert len(curves) == 4 * 5
    got = evaluate([a, b], 200)
    assert got["members"] == 2
    assert got["offset"]["within_1_frame"] == 1.0 and got["offset"]["cases"] == 12
    assert got["scores"]["abs_offset"]["auc_shifted"] == 1.0
    assert got["scores"]["drop0"]["auc_swapped"] == 1.0
    assert got["scores"]["abs_offset"]["balanced_accuracy_lofo"] == 1.0
    with pytest.raises(UsageError):
        load_curves([a], 300)


def test_refps_keeps_the_mouth_on_time() -> None:
    from doppelab.detect.avsync import signals
    from doppelab.detect.avsync.train import refps

    gaps = np.zeros(50)
    gaps[25] = 20.0  # the mouth opens at 1.0 s (25 fps)
    track = refps(synthetic_track(gaps), 30.0)
    assert track.fps == 30.0 and len(track.times) == 60
    assert int(np.argmax(signals.mouth_opening(track))) == 30
    assert track.times[30] == pytest.approx(1.0)
    with pytest.raises(UsageError):
        refps(track, 200.0)


def test_speech_pooling_counts_only_speech_audio() -> None:
    from doppelab.detect.avsync.analyse import pooled_curve, speech_pairs

    speech = np.zeros(60, bool)
    speech[20:40] = True
    pairs = speech_pairs(speech, 3)
    assert pairs.shape == (60, 7) and pairs[17, 6] and not pairs[16, 6] and not pairs[59, 6]
    logits = np.zeros((60, 7))
    logits[:, 3 + 2] = 1.0  # every speech pair prefers lag +2 ...
    logits[~pairs] = 5.0  # ... and silence pairs score high everywhere (they must not count)
    curve = pooled_curve(logits, np.ones(60, bool), "speech", speech)
    assert curve is not None and int(np.argmax(curve)) == 5
    assert pooled_curve(logits, np.zeros(60, bool), "speech", speech) is None
    with pytest.raises(UsageError):
        pooled_curve(logits, np.ones(60, bool), "speech")


def test_read_decision_of_a_cvscore_file(tmp_path: Path) -> None:
    path = tmp_path / "ens.json"
    path.write_text(json.dumps({"ensemble": {"platt_all_rows": {"drop0": [2.5, -1.0]}}}))
    assert read_decision(path, "drop0") == {"score": "drop0", "a": 2.5, "b": -1.0,
                                            "from": "ens.json"}
    with pytest.raises(UsageError, match="z0"):
        read_decision(path, "z0")
    with pytest.raises(UsageError):
        read_decision(tmp_path / "missing.json", "drop0")
