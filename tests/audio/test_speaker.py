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
