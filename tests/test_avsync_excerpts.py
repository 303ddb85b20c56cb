"""A long video's sync check samples excerpts spread over it (avsync.analyse)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from doppelab.audio.vad import Segment
from doppelab.detect.avsync import AVSyncResult, SyncWindow, analyse_av_sync, analyse_streams
from doppelab.detect.avsync.analyse import combine_excerpts, excerpt_spans
from doppelab.detect.avsync.streams import AudioTrack, read_audio_spans

from .test_avsync import RATE, bursts, smooth_noise, synthetic_track, write_av


def test_excerpt_spans_cover_start_to_end() -> None:
    spans = excerpt_spans(600.0, 120.0)
    assert len(spans) == 4 and spans[0] == (0.0, 30.0) and spans[-1] == (570.0, 600.0)
    assert all(b - a == pytest.approx(30.0) for a, b in spans)
    assert excerpt_spans(90.0, 120.0) == [(0.0, 90.0)]


def test_analysis_does_not_depend_on_the_time_origin() -> None:
    track = synthetic_track(np.abs(smooth_noise(150, 3)) * 10)
    audio = AudioTrack(samples=bursts(6.5, seed=1), start_s=0.0)
    whole = [Segment(start=0.0, end=audio.duration)]
    base = analyse_streams(track, audio, segments=whole)
    moved = analyse_streams(replace(track, times=track.times + 100.0),
                            replace(audio, start_s=100.0), segments=whole)
    assert base.status == moved.status == "ok"
    assert moved.offset_frames == pytest.approx(base.offset_frames, abs=1e-3)
    assert moved.probability_fake == pytest.approx(base.probability_fake, abs=1e-3)
    assert [w.start_s - 100.0 for w in moved.windows] == pytest.approx(
        [w.start_s for w in base.windows])


def _ok(p: float, start: float) -> AVSyncResult:
    w = SyncWindow(start_s=start, end_s=start + 2.5, offset_frames=p * 10, confidence=0.5)
    return AVSyncResult(status="ok", offset_frames=p * 10, confidence=0.5, probability_fake=p,
                        windows=(w,), reason=None, face_frames=100, speech_seconds=3.0,
                        spans=((start, start + 4.0),))


def test_the_most_suspicious_excerpt_decides() -> None:
    spans = [(0.0, 4.0), (10.0, 14.0), (20.0, 24.0)]
    quiet = AVSyncResult(status="no_speech", offset_frames=None, confidence=None,
                         probability_fake=None, windows=(), reason="no speech",
                         spans=(spans[2],))
    res = combine_excerpts([_ok(0.1, 0.0), _ok(0.9, 10.0), quiet], spans)
    assert res.probability_fake == 0.9 and res.offset_frames == 9.0
    assert [w.start_s for w in res.windows] == [0.0, 10.0]
    assert res.face_frames == 200 and res.spans == tuple(spans) and len(res.excerpts) == 3
    none = combine_excerpts([quiet], spans[2:])
    assert none.status == "no_speech" and none.excerpts == (quiet,)


def test_audio_spans_are_placed_on_the_timeline(tmp_path: Path) -> None:
    audio = np.zeros(12 * RATE, np.float32)
    audio[9 * RATE: 9 * RATE + 800] = 0.5  # a click at 9 s
    path = write_av(tmp_path / "click.mp4", [np.full((32, 32, 3), 90, np.uint8)] * 300, audio)
    tracks = read_audio_spans(path, [(0.0, 2.0), (8.5, 10.0)], margin=0.5)
    assert tracks is not None and len(tracks) == 2
    late = tracks[1]
    assert late.start_s == pytest.approx(8.0, abs=0.05) and late.duration == pytest.approx(
        2.5, abs=0.05)
    onset = late.start_s + int(np.argmax(np.abs(late.samples) > 0.1)) / RATE
    assert onset == pytest.approx(9.0, abs=0.03)


def test_long_video_is_sampled_in_excerpts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    from doppelab.detect.avsync import analyse

    monkeypatch.setattr(analyse, "audio_speech_seconds", lambda audio, fps, segments=None: 2.0)
    frames = [np.full((96, 96, 3), 60 + i % 100, np.uint8) for i in range(300)]  # 12 s
    path = write_av(tmp_path / "long.mp4", frames, bursts(12.0))
    res = analyse_av_sync(path, max_seconds=4.0)
    assert res.status == "no_face" and len(res.spans) == 4 and len(res.excerpts) == 4
    assert res.spans[0][0] == 0.0 and res.spans[-1][1] == pytest.approx(12.0, abs=0.1)
    assert all(e.status == "no_face" for e in res.excerpts)
