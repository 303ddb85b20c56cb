"""An audio file given where an image or video is needed is named as one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from doppelab.audio.encode import write_audio
from doppelab.core.errors import NotMediaError
from doppelab.core.media import iter_frames, probe


@pytest.mark.parametrize("name", ["voice.wav", "call.mp3"])
def test_exception_audio_file_is_named(tmp_path: Path, name: str) -> None:
    tone = (0.1 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    path = write_audio(tmp_path / name, tone, 16000)
    with pytest.raises(NotMediaError, match=r"^an audio file, not an image or video: .*"):
        probe(path)
    with pytest.raises(NotMediaError, match="an audio file"):
        next(iter(iter_frames(path)))
