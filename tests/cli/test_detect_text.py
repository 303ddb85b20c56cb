"""``doppelab detect``'s text lines: what a person reads without ``--json``."""

from __future__ import annotations

from pathlib import Path

from doppelab.cli.detect import _line
from doppelab.detect.predict import MediaResult


def _audio(speaker: dict | None) -> MediaResult:
    speech = {"probability": 0.39, "speaker": speaker}
    return MediaResult(path="call.mp3", kind="audio", width=0, height=0, frames_total=0,
                       frames_sampled=0, verdict="likely real", probability=0.39,
                       detectors={"speech": 0.39}, speech=speech)


def test_speaker_check_is_shown_with_reference() -> None:
    ref = Path("voice.wav")
    match = _line(_audio({"reference": "voice.wav", "distance": 0.056, "threshold": 0.35,
                          "match": True}), ref)
    assert match.splitlines()[1] == ("  speaker check against voice.wav: match (cosine distance "
                                     "0.056, threshold 0.35; evidence, not proof)")
    other = _line(_audio({"reference": "voice.wav", "distance": 0.5, "threshold": 0.35,
                          "match": False}), ref)
    assert "voice.wav: no match (cosine distance 0.500" in other
    failed = _line(_audio({"reference": "photo.jpg", "match": None,
                           "reason": "no audio track: photo.jpg"}), Path("photo.jpg"))
    assert failed.endswith("speaker check against photo.jpg: not possible (no audio track: "
                           "photo.jpg)")
    silent = _line(_audio(None), ref)
    assert silent.endswith("speaker check against voice.wav: not possible (no speech in this "
                           "file)")


def test_no_speaker_line_without_reference() -> None:
    assert len(_line(_audio(None)).splitlines()) == 1


def test_detectors_accepts_the_av_sync_spelling_of_the_results() -> None:
    import argparse

    from doppelab.cli.detect import _config

    args = argparse.Namespace(detectors="blend, av_sync,avsync", frames=8, threads=1,
                              max_audio_seconds=None, report=None, json_out=None,
                              reference=None, files=[])
    assert _config(args).detectors == ("blend", "avsync")
