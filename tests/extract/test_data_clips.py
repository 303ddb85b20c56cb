"""Extraction on the real shared clips (skipped where ../shared/data is absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from doppelab.extract.faceset import FaceSet
from doppelab.extract.pipeline import ExtractConfig, extract
from tests.conftest import DATA_DIR, requires_data

pytestmark = [requires_data(), pytest.mark.data]


def _clips(n: int) -> list[Path]:
    with open(DATA_DIR / "clips.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "dev"]
    return [DATA_DIR / r["file"] for r in rows[:n]]


def test_dev_clips_found_and_people_separate(tmp_path: Path) -> None:
    clips = _clips(2)
    out = tmp_path / "dev.faceset"
    res = extract(clips, out, ExtractConfig(size=64, every=5, max_faces=1, embed_every=5))
    for m in res.media:
        assert m.frames_with_face / m.frames >= 0.99, m
    fs = FaceSet.open(out)
    # each clip's faces form one person, and the two clips are two people
    media = fs.column("frames")["media"]
    per_clip = [set(fs.people[media == m.media_id.encode()].tolist()) for m in res.media]
    assert all(len(p) == 1 for p in per_clip)
    assert per_clip[0] != per_clip[1]
    assert np.isfinite(fs.embeddings).all()
