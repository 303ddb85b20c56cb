"""The words of detect's HTML report say what its numbers are."""

from __future__ import annotations

from doppelab.detect.predict import MediaResult
from doppelab.detect.report import to_html


def _result(kind: str, detectors: dict[str, float | None]) -> MediaResult:
    return MediaResult(path=f"x.{kind}", kind=kind, width=0, height=0, frames_total=0,
                       frames_sampled=0, probability=0.4, detectors=detectors)


def test_detector_table_heading_matches_its_rows() -> None:
    audio = to_html([_result("audio", {"speech": 0.4})])
    assert "mean over" not in audio
    assert "<h3>Detectors (each one's own probability)</h3>" in audio
    video = to_html([_result("video", {"blend": 0.9, "frequency": 0.1, "temporal": 0.1,
                                       "speech": 0.2})])
    assert ("<h3>Detectors (each one's own probability; blend and frequency: mean over the "
            "faces)</h3>") in video
