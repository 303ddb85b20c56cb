"""The reason of a "likely fake" verdict names the channel and the face detectors behind it."""

from __future__ import annotations

from doppelab.detect.predict import MediaResult, face_fake_reason
from doppelab.detect.predict_audio import fuse_channels


def _result(**detectors: float) -> MediaResult:
    return MediaResult(path="x.mp4", kind="video", width=64, height=64, frames_total=8,
                       frames_sampled=8, detectors=dict(detectors))


def test_face_reason_lists_the_strong_detectors_it_used() -> None:
    res = _result(blend=0.97, frequency=0.60, temporal=0.99)
    assert face_fake_reason(res, 0.15, ["blend", "frequency"]) == "fake evidence from face (blend)"
    # temporal is left out when the fusion does not use it (weight 0), however high it is
    both = _result(blend=0.9, frequency=0.8, temporal=0.99)
    assert face_fake_reason(both, 0.15, ["blend", "frequency"]) == (
        "fake evidence from face (blend, frequency)")
    # the fused face score can be fake while no single detector is: no brackets then
    assert face_fake_reason(_result(blend=0.6, frequency=0.6), 0.15, ["blend", "frequency"]) == (
        "fake evidence from face")


def test_fused_reason_keeps_the_face_detail() -> None:
    res = _result(blend=0.97, frequency=0.9)
    res.probability, res.verdict = 0.9, "likely fake"
    res.reason = "fake evidence from face (blend, frequency)"
    res.av_sync = {"probability": 0.8, "verdict": "likely fake"}
    res.speech = {"probability": 0.2, "verdict": "likely real"}
    fuse_channels(res, 0.15)
    assert res.verdict == "likely fake"
    assert res.reason == "fake evidence from face (blend, frequency), av_sync"


def test_fused_reason_without_a_fake_face() -> None:
    res = _result(blend=0.1, frequency=0.2)
    res.probability, res.verdict, res.reason = 0.1, "likely real", None
    res.speech = {"probability": 0.95, "verdict": "likely fake"}
    fuse_channels(res, 0.15)
    assert (res.verdict, res.reason) == ("likely fake", "fake evidence from speech")
