"""The demo report's notes describe the shipped detector's training as it is."""

from __future__ import annotations

from doppelab.demo.report import _notes


def test_missed_fake_note_names_what_the_detector_was_trained_on() -> None:
    facts = {"detect": {"real": {"verdict": "likely real"},
                        "fake_mesh": {"verdict": "inconclusive"}}}
    note = _notes("detect", facts)
    assert "did not call fake_mesh fake" in note
    # the shipped detectors also saw mesh and autoencoder swaps of the designated pairs
    # (src/doppelab/detect/weights/MODEL_CARD.md), not only self-blends
    assert "self-blended fakes and on swaps of two other pairs of people" in note
    assert _notes("detect", {"detect": {"fake_mesh": {"verdict": "likely fake"}}}) == ""
