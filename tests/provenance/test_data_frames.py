"""Real frames from ../shared/data (skipped where the data set is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from doppelab.core.media import iter_frames
from doppelab.provenance import watermark
from tests.provenance.conftest import ATTACKS

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLIPS = ("hdtf_RD_Radio2.mp4", "ed_expression_source.mp4", "lp_d10.mp4")

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not (DATA / "clips.csv").exists(),
                       reason=f"needs the shared data set at {DATA} (absent here)"),
]


def _frame(name: str, index: int = 30) -> np.ndarray:
    for frame in iter_frames(DATA / "clips" / name):
        if frame.ref.index == index:
            return frame.image
    raise AssertionError(f"{name} has no frame {index}")


@pytest.mark.parametrize("name", CLIPS)
def test_real_frame_survives_compression_and_crop(name: str) -> None:
    frame = _frame(name)
    marked = watermark.embed(frame, 0xC0FFEE)
    attacks = ["jpeg50", "h264_crf23", "crop10", "down0.5"]
    if min(frame.shape[:2]) >= 480:  # 256-px frames at CRF 28 are a known weak spot (bench)
        attacks.append("h264_crf28")
    for attack in attacks:
        result = watermark.detect(ATTACKS[attack](marked))
        assert result.found and result.payload_id == 0xC0FFEE, (name, attack, result)


@pytest.mark.parametrize("name", CLIPS)
def test_real_unmarked_frames_not_claimed(name: str) -> None:
    for index in (0, 60):
        assert not watermark.detect(_frame(name, index)).found
