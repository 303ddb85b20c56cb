"""Speaker check (Resemblyzer's encoder, our front end): skipped where the wheel is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from doppelab.audio.encode import write_audio
from doppelab.core.errors import NothingFoundError
from doppelab.detect.speaker import embed_voice, speaker_available, speaker_check
from tests.conftest import DATA_DIR, requires_data

pytestmark = pytest.mark.skipif(not speaker_available(), reason="resemblyzer not installed")


def test_exception_too_little_speech(tmp_path: Path) -> None:
    with pytest.raises(NothingFoundError):
        embed_voice(np.zeros(1000, np.float32))
    noise = write_audio(tmp_path / "n.wav", np.random.default_rng(0).normal(0, 0.1, 48000)
                        .astype(np.float32), 16000)
    with pytest.raises(NothingFoundError):
        speaker_check(noise, noise)


@requires_data()
@pytest.mark.data
def test_same_and_other_speaker() -> None:
    sp = DATA_DIR / "speech"
    a, b = sp / "lhotse_2412-153948-0000.flac", sp / "lhotse_2412-153948-0001.flac"
    other = sp / "mfa_mfa_affectation.flac"
    e = embed_voice(np.random.default_rng(0).normal(0, 0.05, 32000).astype(np.float32))
    assert e.shape == (256,) and abs(float(np.linalg.norm(e)) - 1) < 1e-4
    same = speaker_check(a, b)
    diff = speaker_check(a, other)
    assert same["distance"] < diff["distance"]
    assert same["match"] and not diff["match"]


def test_reference_voice_is_embedded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from doppelab.detect import speaker

    rng = np.random.default_rng(0)
    speech = {name: rng.normal(0, 0.1, 16000).astype(np.float32) for name in "abr"}
    speech["quiet"] = np.zeros(10, np.float32)
    read: list[str] = []

    def fake_speech(path: str, max_seconds: float | None) -> np.ndarray:
        read.append(str(path))
        return speech[str(path)]

    def fake_embed(x: np.ndarray) -> np.ndarray:
        if len(x) < 8000:
            raise NothingFoundError("too little speech")
        v = x[:256].astype(np.float32)
        return v / np.linalg.norm(v)

    monkeypatch.setattr(speaker, "_file_speech", fake_speech)
    monkeypatch.setattr(speaker, "embed_voice", fake_embed)
    voice = speaker.ReferenceVoice("r")
    got = [voice.check(p) for p in ("a", "b", "a")]
    assert read.count("r") == 1 and read.count("a") == 2
    assert got == [speaker.speaker_check(p, "r") for p in ("a", "b", "a")]
    assert got[0]["reference"] == "r" and got[0]["threshold"] == speaker.THRESHOLD
    quiet = speaker.ReferenceVoice("quiet")
    for p in ("a", "b"):
        with pytest.raises(NothingFoundError):
            quiet.check(p)
    assert read.count("quiet") == 1


@requires_data()
@pytest.mark.data
def test_detect_run_embeds_the_reference_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from doppelab.detect import speaker
    from doppelab.detect.predict import Detect, DetectConfig

    sp = DATA_DIR / "speech"
    files = [sp / "lhotse_2412-153948-0000.flac", sp / "mfa_mfa_affectation.flac"]
    ref = str(sp / "lhotse_2412-153948-0001.flac")
    calls: list[str] = []
    real = speaker._file_speech

    def counted(path: str, max_seconds: float | None) -> np.ndarray:
        calls.append(str(path))
        return real(path, max_seconds)

    monkeypatch.setattr(speaker, "_file_speech", counted)
    det = Detect(DetectConfig(detectors=("speech",), speaker_reference=ref))
    checks = [det.run(f).speech["speaker"] for f in files]  # type: ignore[index]
    assert calls.count(ref) == 1 and len(calls) == 3
    assert checks == [speaker.speaker_check(f, ref) for f in files]
    assert checks[0]["match"] and not checks[1]["match"]
