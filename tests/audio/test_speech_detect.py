"""The shipped speech detector through ``analyse_speech``, ``Detect`` and the CLI.

Bad inputs (no audio track, no speech, noise, clipping, 5.1, 8 kHz, long, corrupt) never crash;
the shortcut tests (silence, loudness, container/codec, sample rate, length) run on real dev
speech of the shared data set where it is present.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from doppelab.audio import NoAudioError, load_audio
from doppelab.audio.encode import write_audio
from doppelab.cli.main import main
from doppelab.detect.base import create_detector
from doppelab.detect.speech import AudioWindows, SpeechDetector, analyse_speech
from doppelab.detect.speech_fakes import world_vocoder
from doppelab.detect.speech_phase import N_WINDOW_FEATURES
from doppelab.detect.speech_prosody import N_PROSODY
from tests.conftest import DATA_DIR, requires_data

RATE = 16_000
# dev speakers only (measuring): German EmoDB, English LibriSpeech and an MFA dev recording
DEV_FILES = ("emodb_08a01Na.flac", "lhotse_2412-153948-0000.flac", "mfa_mfa_affectation.flac")


@pytest.fixture(scope="module")
def det() -> SpeechDetector:
    return SpeechDetector()


def noise(seconds: float, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(
        np.float32)


def test_contract(det: SpeechDetector) -> None:
    assert create_detector("speech").level == "audio"
    out = det.forward(AudioWindows(windows=noise(4.0).reshape(2, -1)))
    width = N_WINDOW_FEATURES + N_PROSODY  # the shipped model sees phase and prosody statistics
    assert out["logits"].shape == (2,) and out["features"].shape == (2, width)
    assert det.n_features == width
    assert ((out["probability"] >= 0) & (out["probability"] <= 1)).all()
    assert det.forward(AudioWindows(windows=np.zeros((0, 2 * RATE), np.float32)))[
        "logits"].shape == (0,)
    with pytest.raises(ValueError):
        AudioWindows(windows=np.zeros((1, 100), np.float32))


@pytest.mark.parametrize("kind", ["silence", "noise", "clipped_noise", "surround_noise"])
def test_no_speech_is_inconclusive(tmp_path: Path, det: SpeechDetector, kind: str) -> None:
    x = {"silence": np.zeros(3 * RATE, np.float32), "noise": noise(3.0),
         "clipped_noise": np.clip(noise(3.0, amp=2.0), -1, 1),
         "surround_noise": np.stack([noise(3.0, 0.05, s) for s in range(6)])}[kind]
    path = write_audio(tmp_path / f"{kind}.wav", x, 48_000 if kind == "surround_noise" else RATE)
    res = analyse_speech(path, det)
    assert res.verdict == "inconclusive" and res.reason == "no speech"
    assert res.probability is None and res.windows == []


def test_no_audio_track(astronaut_video: Path, det: SpeechDetector,
                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NoAudioError):
        analyse_speech(astronaut_video, det)
    assert main(["detect", str(astronaut_video), "--json", "--frames", "4"]) == 0
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["speech"]["reason"] == "no audio" and res["speech"]["verdict"] == "inconclusive"
    assert res["av_sync"]["verdict"] == "inconclusive"


def test_long_file_bounded(tmp_path: Path, det: SpeechDetector) -> None:
    path = write_audio(tmp_path / "long.flac", noise(130.0, 0.01), RATE)  # ~2 min, 3 blocks
    res = analyse_speech(path, det, block_seconds=30.0)
    assert abs(res.duration - 130.0) < 0.1 and res.reason == "no speech"
    cut = analyse_speech(path, det, max_seconds=20.0)
    assert cut.truncated and abs(cut.duration - 20.0) < 0.01


def test_corrupt_middle_does_not_crash(tmp_path: Path, det: SpeechDetector) -> None:
    path = write_audio(tmp_path / "c.mp3", noise(8.0, 0.05), RATE, bitrate=32_000)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 800] = bytes(800)
    path.write_bytes(bytes(data))
    res = analyse_speech(path, det)
    assert res.duration > 6.0


@requires_data()
@pytest.mark.data
def test_cli_wav_mp3_and_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = load_audio(DATA_DIR / "speech" / DEV_FILES[0], normalize=False)
    wav = write_audio(tmp_path / "a.wav", clip.samples, RATE)
    mp3 = write_audio(tmp_path / "a.mp3", clip.samples, RATE)
    video = DATA_DIR / "clips" / "ed_obama.mp4"
    report = tmp_path / "r.html"
    code = main(["detect", str(wav), str(mp3), str(video), "--json", "--frames", "4",
                 "--report", str(report)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)["results"]
    assert [r["kind"] for r in out] == ["audio", "audio", "video"]
    for r in out:
        assert r["speech"]["windows"] and r["speech"]["probability"] is not None
        assert r["detectors"]["speech"] is not None
    av = out[2]["av_sync"]
    assert av["status"] == "ok" and av["offset_frames"] is not None and av["timeline"]
    assert av["verdict"] in ("likely fake", "likely real", "inconclusive")
    assert out[0]["av_sync"] is None  # audio files have no mouth
    html = report.read_text()
    assert "<h3>Speech</h3>" in html and "P(synthetic speech)" in html
    assert "<h3>Audio-visual sync</h3>" in html


def _p(det: SpeechDetector, path: Path) -> float:
    res = analyse_speech(path, det)
    assert res.probability is not None
    return res.probability


@requires_data()
@pytest.mark.data
@pytest.mark.parametrize("name", DEV_FILES)
def test_shortcuts_do_not_flip_real_speech(tmp_path: Path, det: SpeechDetector,
                                           name: str) -> None:
    """Silence, loudness, container/codec, sample rate and length leave the verdict alone."""
    clip = load_audio(DATA_DIR / "speech" / name, normalize=False)
    x = clip.samples
    base = _p(det, write_audio(tmp_path / "base.wav", x, RATE))
    pad = np.zeros(3 * RATE, np.float32)
    variants = {
        "silence": write_audio(tmp_path / "s.wav", np.concatenate([pad, x, pad]), RATE),
        "quiet": write_audio(tmp_path / "q.wav", x * 0.05, RATE),
        "loud": write_audio(tmp_path / "l.wav", np.clip(x * 4, -1, 1), RATE),
        "mp3": write_audio(tmp_path / "m.mp3", x, RATE, bitrate=32_000),
        "m4a": write_audio(tmp_path / "m.m4a", x, RATE),
        "ogg48k": write_audio(tmp_path / "o.ogg", _resampled(x, 48_000), 48_000),
        "tel8k": write_audio(tmp_path / "t.wav", _resampled(x, 8_000), 8_000),
        "twice": write_audio(tmp_path / "t2.wav", np.concatenate([x, x]), RATE),
    }
    for label, path in variants.items():
        p = _p(det, path)
        # a flip: one decisive verdict (outside 0.5 +- 0.15) turned into the opposite one
        flipped = (base >= 0.65 and p <= 0.35) or (base <= 0.35 and p >= 0.65)
        assert not flipped, f"{label}: the verdict flipped ({base:.2f} -> {p:.2f})"
        assert abs(p - base) < 0.35, f"{label}: probability moved {base:.2f} -> {p:.2f}"


def _resampled(x: np.ndarray, rate: int) -> np.ndarray:
    from doppelab.audio.encode import resample

    return resample(x, RATE, rate)


@requires_data()
@pytest.mark.data
def test_vocoded_dev_speech_is_caught_also_as_mp3(tmp_path: Path, det: SpeechDetector) -> None:
    x = load_audio(DATA_DIR / "speech" / DEV_FILES[1]).samples
    fake = world_vocoder(x, np.random.default_rng(0)) * 0.5
    assert _p(det, write_audio(tmp_path / "f.wav", fake, RATE)) > 0.5
    assert _p(det, write_audio(tmp_path / "f.mp3", fake, RATE, bitrate=32_000)) > 0.5


@requires_data()
@pytest.mark.data
def test_eval_reports_speech_levels_per_generator(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["path,label,source"]
    for i, name in enumerate(DEV_FILES[:2]):
        x = load_audio(DATA_DIR / "speech" / name).samples
        write_audio(tmp_path / f"real{i}.wav", x, RATE)
        write_audio(tmp_path / f"world{i}.mp3", world_vocoder(x, np.random.default_rng(i)), RATE)
        rows += [f"real{i}.wav,0,real", f"world{i}.mp3,1,world"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    assert main(["eval", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "out"),
                 "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["scored"] == 4
    for level in ("speech", "speech_window"):
        assert m[level]["all"]["n"] >= 4 and "world" in m[level]["per_source"]
        assert m[level]["all"]["eer"] is not None


@requires_data()
@pytest.mark.data
def test_reference_speaker_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from doppelab.detect.speaker import speaker_available

    if not speaker_available():
        pytest.skip("resemblyzer not installed")
    sp = DATA_DIR / "speech"
    code = main(["detect", str(sp / "lhotse_2412-153948-0000.flac"), "--json",
                 "--reference", str(sp / "lhotse_2412-153948-0001.flac")])
    assert code == 0
    spk = json.loads(capsys.readouterr().out)["results"][0]["speech"]["speaker"]
    assert spk["match"] is True and 0 <= spk["distance"] < spk["threshold"]
    assert main(["detect", str(sp / "lhotse_2412-153948-0000.flac"), "--reference",
                 str(tmp_path / "missing.wav")]) == 3


def test_timeline_per_second() -> None:
    from doppelab.detect.speech import _per_second

    w = [{"start": 0.5, "end": 2.5, "probability": 0.2},
         {"start": 1.5, "end": 3.0, "probability": 0.6}]
    assert _per_second(w, 5.0) == [
        {"second": 0, "probability": 0.2}, {"second": 1, "probability": 0.4},
        {"second": 2, "probability": 0.4}]


@requires_data()
@pytest.mark.data
def test_short_speech_carries_a_caveat(det: SpeechDetector) -> None:
    """Speech under one 2 s window is looped and its score is unsteady: the result says so."""
    short = analyse_speech(DATA_DIR / "speech" / DEV_FILES[0], det)
    long = analyse_speech(DATA_DIR / "speech" / DEV_FILES[1], det)
    assert short.probability is not None and short.speech_seconds < 2.0
    assert len(short.caveats) == 1 and short.caveats[0].startswith("short speech")
    assert long.speech_seconds >= 2.0 and long.caveats == []
    from doppelab.detect.predict import Detect, DetectConfig

    # the same caveat reaches the file's result (JSON, report, terminal) through Detect
    out = Detect(DetectConfig(detectors=("speech",))).run(DATA_DIR / "speech" / DEV_FILES[0])
    assert out.caveats == short.caveats
