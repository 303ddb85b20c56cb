"""Audio-visual sync: offset estimator, signals, status paths, re-timing, shipped network."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from doppelab.core.errors import FileAccessError, UsageError
from doppelab.detect.avsync import (
    AVSyncResult,
    SyncWindow,
    analyse_av_sync,
    analyse_streams,
    signals,
    xcorr,
)
from doppelab.detect.avsync.features import clip_features, lag_logits
from doppelab.detect.avsync.net import WEIGHTS, load_members
from doppelab.detect.avsync.retime import retime_audio
from doppelab.detect.avsync.streams import KEPT, KEPT_INDEX, AudioTrack, FaceTrack, read_audio

from .conftest import DATA_DIR, requires_data

RATE = 16_000


def smooth_noise(n: int, seed: int) -> np.ndarray:
    """A syllable-like random signal: white noise smoothed over ~3 frames."""
    x = np.random.default_rng(seed).normal(size=n + 20)
    return np.convolve(x, np.hanning(7), mode="same")[10 : 10 + n]


@pytest.mark.parametrize("shift", [-12, -7, -2, 0, 3, 5, 10, 15])
def test_offset_of_known_shift(shift: int) -> None:
    s = smooth_noise(300, seed=shift + 100)
    video = s[20:220]
    audio = s[20 - shift : 220 - shift]  # audio[t + shift] = video[t]: audio late by `shift`
    off, conf = xcorr.peak(xcorr.lag_curve(video, audio))
    assert abs(off - shift) < 0.5
    assert conf > 0.5


def test_offset_ignores_nan_and_noise() -> None:
    s = smooth_noise(300, seed=1)
    video, audio = s[20:220].copy(), s[16:216] + 0.3 * smooth_noise(200, seed=2)
    video[50:70] = np.nan  # face lost for a while
    off, _ = xcorr.peak(xcorr.lag_curve(video, audio))
    assert abs(off - 4) < 0.5


def test_unrelated_signals_have_low_confidence() -> None:
    confs = [xcorr.peak(xcorr.lag_curve(smooth_noise(200, s), smooth_noise(200, s + 50)))[1]
             for s in range(10)]
    assert np.median(confs) < 0.3


def test_lag_curve_exception() -> None:
    with pytest.raises(UsageError):
        xcorr.lag_curve(np.zeros(10), np.zeros(11))
    with pytest.raises(UsageError):
        xcorr.lag_curve(np.zeros(10), np.zeros(10), max_lag=0)


def test_window_spans_cover_the_clip() -> None:
    spans = xcorr.window_spans(100, 25.0, 2.5, 1.0)
    assert spans[0] == (0, 62) and spans[-1][1] == 100
    assert all(b - a == 62 for a, b in spans)
    assert xcorr.window_spans(30, 25.0, 2.5, 1.0) == [(0, 30)]


def test_highpass_removes_level() -> None:
    x = np.linspace(0, 10, 200) + np.sin(np.arange(200))
    y = xcorr.highpass(x, 25)
    assert abs(np.nanmean(y[20:-20])) < 0.1


def synthetic_track(gaps: np.ndarray, fps: float = 25.0) -> FaceTrack:
    """Landmarks with eyes 100 px apart and the five inner-lip pairs ``gaps`` px apart."""
    t = len(gaps)
    pts = np.zeros((t, len(KEPT), 2), np.float32)
    pts[:, :, 0] = np.linspace(-20, 20, len(KEPT))[None]
    pts[:, KEPT_INDEX[33]] = (-50, -60)
    pts[:, KEPT_INDEX[263]] = (50, -60)
    for up, low in signals.INNER_PAIRS:
        pts[:, KEPT_INDEX[up], 1] = 10.0
        pts[:, KEPT_INDEX[low], 0] = pts[:, KEPT_INDEX[up], 0]
        pts[:, KEPT_INDEX[low], 1] = 10.0 + gaps
    return FaceTrack(points=pts, times=np.arange(t) / fps, fps=fps)


def test_mouth_opening_is_normalised_by_face_size() -> None:
    track = synthetic_track(np.array([0.0, 5.0, 20.0]))
    np.testing.assert_allclose(signals.mouth_opening(track), [0.0, 0.05, 0.2], atol=1e-6)
    big = replace(track, points=track.points * 3)
    np.testing.assert_allclose(signals.mouth_opening(big), [0.0, 0.05, 0.2], atol=1e-6)


def test_speech_energy_follows_the_audio_timeline() -> None:
    samples = np.zeros(RATE * 2, np.float32)
    samples[RATE : RATE + 1600] = np.sin(np.arange(1600) * 2 * np.pi * 1000 / RATE)
    times = np.arange(50) / 25.0
    e = signals.speech_energy(AudioTrack(samples=samples, start_s=0.0), times, 25.0)
    assert int(np.argmax(e)) in (25, 26, 27)
    late = signals.speech_energy(AudioTrack(samples=samples, start_s=0.4), times, 25.0)
    assert int(np.argmax(late)) - int(np.argmax(e)) == 10


def write_av(path: Path, frames: list[np.ndarray], audio: np.ndarray | None, fps: int = 25) -> Path:
    """H.264 video + optional AAC mono 16 kHz audio (test input generator)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = out.add_stream("aac", rate=RATE, layout="mono") if audio is not None else None
        for img in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
        if aus is not None and audio is not None:
            for i in range(0, len(audio), 1024):
                chunk = audio[None, i : i + 1024].astype(np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate, frame.pts = RATE, i
                out.mux(aus.encode(frame))
            out.mux(aus.encode())
    return path


def bursts(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts of band-limited noise (speech-like energy, 4 per second)."""
    n = int(seconds * RATE)
    noise = np.random.default_rng(seed).normal(size=n)
    env = np.maximum(0.0, np.sin(np.arange(n) * 2 * np.pi * 4 / RATE)) ** 2
    return (0.3 * env * np.convolve(noise, np.ones(4) / 4, mode="same")).astype(np.float32)


@pytest.fixture(scope="module")
def gray_frames() -> list[np.ndarray]:
    return [np.full((96, 96, 3), 90 + i, np.uint8) for i in range(50)]


def test_no_audio(astronaut_video: Path) -> None:
    res = analyse_av_sync(astronaut_video)
    assert res.status == "no_audio" and res.offset_frames is None and res.reason


def test_still_image_has_no_audio(tmp_path: Path, astronaut: np.ndarray) -> None:
    from doppelab.core.media import write_image

    write_image(tmp_path / "a.png", astronaut)
    assert analyse_av_sync(tmp_path / "a.png").status == "no_audio"


def test_silent_audio_is_no_speech(tmp_path: Path, gray_frames: list[np.ndarray]) -> None:
    path = write_av(tmp_path / "silent.mp4", gray_frames, np.zeros(2 * RATE, np.float32))
    res = analyse_av_sync(path)
    assert res.status == "no_speech" and res.probability_fake is None


def test_noise_is_no_speech(tmp_path: Path, gray_frames: list[np.ndarray]) -> None:
    path = write_av(tmp_path / "noise.mp4", gray_frames, bursts(2.0))
    assert analyse_av_sync(path).status == "no_speech"


def test_speech_without_face_is_no_face(
    tmp_path: Path, gray_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from doppelab.detect.avsync import analyse

    monkeypatch.setattr(analyse, "audio_speech_seconds", lambda audio, fps, segments=None: 2.0)
    path = write_av(tmp_path / "noface.mp4", gray_frames, bursts(2.0))
    res = analyse_av_sync(path)
    assert res.status == "no_face" and res.windows == () and res.probability_fake is None


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError):
        analyse_av_sync(tmp_path / "nope.mp4")


def test_retime_moves_the_audio(tmp_path: Path, gray_frames: list[np.ndarray]) -> None:
    audio = np.zeros(2 * RATE, np.float32)
    audio[RATE // 2 : RATE // 2 + 800] = 0.5 * np.sin(np.arange(800) * 2 * np.pi * 800 / RATE)
    src = write_av(tmp_path / "click.mp4", gray_frames, audio)
    dst = tmp_path / "late.mp4"
    retime_audio(src, dst, 0.24)

    def onset(path: Path) -> float:
        a = read_audio(path)
        assert a is not None
        return a.start_s + int(np.argmax(np.abs(a.samples) > 0.1)) / RATE

    assert onset(dst) - onset(src) == pytest.approx(0.24, abs=0.005)
    before = [p.to_ndarray() for p in av.open(str(src)).decode(video=0)]
    after = [p.to_ndarray() for p in av.open(str(dst)).decode(video=0)]
    assert len(before) == len(after)
    assert all((a == b).all() for a, b in zip(before, after, strict=True))


def test_shipped_weights_shape() -> None:
    model, meta = load_members(WEIGHTS)  # the shipped ensemble, as analyse uses it
    assert meta["max_lag"] == 15 and "train" not in {c for c in meta["clips"] if "dev" in c}
    rng = np.random.default_rng(0)
    gaps = np.abs(smooth_noise(60, 3)) * 10
    samples = bursts(2.6, seed=1)
    feats = clip_features(synthetic_track(gaps), AudioTrack(samples=samples, start_s=0.0))
    logits = lag_logits(model, feats, 15)
    assert logits.shape == (60, 31)
    assert np.isfinite(logits[20:40]).all() and np.isnan(logits[:2]).all()
    del rng


def test_result_types_are_frozen() -> None:
    w = SyncWindow(start_s=0.0, end_s=2.5, offset_frames=1.0, confidence=0.3)
    r = AVSyncResult(status="ok", offset_frames=1.0, confidence=0.3, probability_fake=0.1,
                     windows=(w,), reason=None)
    with pytest.raises(AttributeError):
        r.status = "no_face"  # type: ignore[misc]


def test_streams_without_face() -> None:
    track = synthetic_track(np.zeros(40))
    track = replace(track, points=np.full_like(track.points, np.nan))
    res = analyse_streams(track, AudioTrack(samples=bursts(2.0), start_s=0.0))
    assert res.status == "no_face"


@pytest.mark.data
@requires_data()
def test_real_clip_shifted_by_known_frames(tmp_path: Path) -> None:
    src = DATA_DIR / "clips" / "hdtf_WDA_EdMarkey0.mp4"
    base = analyse_av_sync(src)
    shifted = tmp_path / "late.mp4"
    retime_audio(src, shifted, 6 / 25.0)
    late = analyse_av_sync(shifted)
    assert base.status == late.status == "ok"
    assert base.offset_frames is not None and late.offset_frames is not None
    # an unseen person reads with a small fixed bias (about -1 frame for this clip, see the
    # README); the known shift must show up relative to the clip's own reading
    assert abs(base.offset_frames) <= 1.5
    assert abs((late.offset_frames - base.offset_frames) - 6.0) <= 1.0
    assert late.probability_fake is not None and base.probability_fake is not None
    assert late.probability_fake > base.probability_fake


def test_read_audio_without_track(astronaut_video: Path) -> None:
    assert read_audio(astronaut_video) is None


def test_retime_needs_audio(tmp_path: Path, astronaut_video: Path) -> None:
    from doppelab.core.errors import NotMediaError

    with pytest.raises(NotMediaError):
        retime_audio(astronaut_video, tmp_path / "out.mp4", 0.1)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_swap_audio_takes_the_other_track(tmp_path: Path, gray_frames: list[np.ndarray]) -> None:
    from doppelab.detect.avsync.retime import swap_audio

    a = write_av(tmp_path / "a.mp4", gray_frames, np.zeros(2 * RATE, np.float32))
    b = write_av(tmp_path / "b.mp4", gray_frames[:10], bursts(2.0))
    swap_audio(a, b, tmp_path / "ab.mp4")
    got = read_audio(tmp_path / "ab.mp4")
    assert got is not None and float(np.abs(got.samples).max()) > 0.05


def test_out_of_sync_probability() -> None:
    from doppelab.detect.avsync.analyse import TOLERANCE_S, out_of_sync_probability

    assert out_of_sync_probability(TOLERANCE_S * 25, 25.0) == pytest.approx(0.5)
    ps = [out_of_sync_probability(k, 25.0) for k in (0, 1, 2, 4, 8)]
    assert ps == sorted(ps) and ps[0] < 0.1 and ps[-1] > 0.99
    assert out_of_sync_probability(-4, 25.0) == out_of_sync_probability(4, 25.0)


def test_lag_logits_match_a_window_by_window_computation() -> None:
    import torch

    from doppelab.detect.avsync.features import audio_index, net_lips, visual_windows
    from doppelab.detect.avsync.net import MEL_WIDTH

    model = load_members(WEIGHTS)[0][0]
    feats = clip_features(synthetic_track(np.abs(smooth_noise(50, 5)) * 10),
                          AudioTrack(samples=bursts(2.4, seed=2), start_s=0.03))
    got = lag_logits(model, feats, 6)
    vis, vok = visual_windows(net_lips(feats.lips, model.cfg.lip_norm))
    start, aok = audio_index(feats, np.arange(-6, 7))
    t, j = 25, 4
    assert vok[t] and aok[t, j]
    mel = torch.from_numpy(feats.mel[start[t, j] : start[t, j] + MEL_WIDTH][None])
    with torch.inference_mode():
        want = model.logit(model.embed_visual(torch.from_numpy(vis[t : t + 1])),
                           model.embed_audio(mel))
    assert got[t, j] == pytest.approx(float(want[0]), abs=1e-5)
    assert np.isnan(got[~vok]).all()


def test_net_lips_rms_is_scale_free() -> None:
    from doppelab.detect.avsync.features import net_lips

    lips = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    lips[3] = np.nan
    a, b = net_lips(lips, "rms"), net_lips(3.0 * lips, "rms")
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-5)
    assert float(np.sqrt(np.nanmean(a**2))) == pytest.approx(1.0, rel=1e-4)
    assert net_lips(lips, "scale") is lips
    with pytest.raises(UsageError):
        net_lips(lips, "zscore")


@pytest.mark.parametrize("pooling", ["mean", "confidence"])
def test_pooled_curve_finds_the_common_lag(pooling: str) -> None:
    from doppelab.detect.avsync.analyse import curve_peak, pooled_curve

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1, size=(60, 31))
    logits[:, 15 + 4] += 3.0  # every frame prefers lag +4, with noise
    logits[:5] = np.nan  # undefined frames are left out
    curve = pooled_curve(logits, np.ones(60, bool), pooling)
    assert curve is not None and curve.shape == (31,)
    assert curve_peak(curve)[0] == pytest.approx(4.0, abs=0.5)
    assert pooled_curve(logits, np.zeros(60, bool), pooling) is None


def test_pooled_curve_exception() -> None:
    from doppelab.detect.avsync.analyse import pooled_curve

    with pytest.raises(UsageError):
        pooled_curve(np.zeros((20, 31)), np.ones(20, bool), "median")


def test_stretch_keeps_both_streams_together() -> None:
    from doppelab.audio import Segment
    from doppelab.detect.avsync.train import stretch

    gaps = np.zeros(50)
    gaps[25] = 20.0  # the mouth opens at frame 25 (1.0 s) ...
    samples = np.zeros(2 * RATE, np.float32)
    samples[RATE : RATE + 160] = 1.0  # ... and the click is at 1.0 s
    track, audio, segs = stretch(synthetic_track(gaps), AudioTrack(samples=samples, start_s=0.0),
                                 [Segment(start=0.5, end=1.5)], 1.25)
    opened = int(np.argmax(signals.mouth_opening(track)))
    click = audio.start_s + int(np.argmax(audio.samples)) / RATE
    assert opened == 20 and click == pytest.approx(0.8, abs=0.01)
    assert track.fps == 25.0 and len(track.times) == 40
    assert segs[0].start == pytest.approx(0.4) and segs[0].end == pytest.approx(1.2)
    with pytest.raises(UsageError):
        stretch(track, audio, segs, 3.0)


def test_cv_summary_counts_offsets() -> None:
    from doppelab.detect.avsync.cv import SHIFTS, summarise

    def row(bias: float) -> dict:
        res = {str(k): {"mean": {"offset": k + bias, "confidence": 1.0}} for k in (0, *SHIFTS)}
        res["swap:x"] = {"mean": {"offset": 9.0, "confidence": 0.1}}
        return {"fold": 0, "step": 10, "clip": "c", "results": res}

    got = summarise([row(0.2), row(3.0)])["10"]["mean"]
    assert got["within_1_frame"] == pytest.approx(0.5)
    assert got["relative_within_1_frame"] == pytest.approx(1.0)
    assert got["in_sync_within_1_frame"] == pytest.approx(0.5)
    assert 0.5 < got["auc_shifted"] <= 1.0


def test_fit_stops_early_and_reports() -> None:
    from doppelab.audio import Segment
    from doppelab.detect.avsync.net import SyncNetConfig
    from doppelab.detect.avsync.train import Recipe, clip_items, fit

    gaps = np.abs(smooth_noise(125, 7)) * 10
    items = []
    for i in range(2):
        items += clip_items(f"p{i}", synthetic_track(gaps), AudioTrack(samples=bursts(5.0, seed=i),
                            start_s=0.0), [Segment(start=0.0, end=5.0)], "rms", (0.9,))
    assert sorted(it.name for it in items) == ["p0@0.9", "p0@1", "p1@0.9", "p1@1"]
    seen: list[int] = []
    model = fit(items, SyncNetConfig(lip_norm="rms"), Recipe(steps=40, batch=2, stop_at=3),
                save_every=2, on_save=lambda step, m: seen.append(step))
    assert seen == [2, 3] and not model.training


def test_short_signals_keep_their_length() -> None:
    """Clips shorter than a filter window (a 1 s video is 25 frames, the lag window 31) used to
    crash: ``np.convolve(mode="same")`` returns the window's length then."""
    from doppelab.detect.avsync.features import anchor_frames

    assert xcorr.highpass(np.arange(5.0), 25).shape == (5,)
    np.testing.assert_allclose(signals.centred_sum(np.ones(4), 7), [4.0, 4.0, 4.0, 4.0])
    np.testing.assert_allclose(signals.centred_sum(np.arange(6.0), 3),
                               np.convolve(np.arange(6.0), np.ones(3), mode="same"))
    feats = clip_features(synthetic_track(np.full(20, 5.0)),
                          AudioTrack(samples=bursts(1.5), start_s=0.0))
    feats = replace(feats, speech=np.ones(20, bool))
    assert anchor_frames(feats, 15).shape == (20,)
    res = analyse_streams(synthetic_track(np.full(20, 5.0)),
                          AudioTrack(samples=bursts(1.5), start_s=0.0))
    assert res.status in ("ok", "no_speech")
