"""Inputs that are not regular files (FIFOs, devices) must give a typed error at once, never
block: fuzz round 5 (``bench/fuzz_corpus5.py``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from doppelab.core.errors import FileAccessError
from doppelab.core.media_check import sniff


def _finishes(call: Callable[[], object], fifo: Path, seconds: float = 5.0) -> list[object]:
    """Run ``call`` in a thread; when it is still blocked after ``seconds`` (opening ``fifo``
    for reading), open the FIFO's other end so the thread ends, and fail."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # the outcome under test
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # unblocks the reader
        os.close(fd)
        worker.join(seconds)
        pytest.fail(f"blocked for {seconds} s on the FIFO {fifo.name}")
    return outcome


def test_sniff_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    assert _finishes(lambda: sniff(fifo), fifo) == [None]


def test_sniff_device_is_not_media() -> None:
    assert sniff(Path("/dev/zero")) is None


def test_exception_detect_fifo_is_typed(tmp_path: Path) -> None:
    from doppelab.detect.predict_audio import is_audio_file

    for name in ("pipe.wav", "pipe.jpg"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        (outcome,) = _finishes(lambda f=fifo: is_audio_file(f), fifo)  # type: ignore[misc]
        assert isinstance(outcome, FileAccessError), outcome
        assert "not a regular file" in str(outcome)


def test_exception_ffconcat_list_is_not_a_permission_problem(tmp_path: Path) -> None:
    """A readable ``ffconcat`` list named ``.mp4`` naming an absolute path: FFmpeg's concat
    demuxer answers EPERM (an unsafe file name); the error said "permission denied" about a
    file anyone can read (fuzz round 5)."""
    from doppelab.core.errors import NotMediaError
    from doppelab.core.media import probe

    listing = tmp_path / "list.mp4"
    listing.write_bytes(f"ffconcat version 1.0\nfile '{tmp_path / 'clip.mp4'}'\n".encode())
    with pytest.raises(NotMediaError, match="not an image or video"):
        probe(listing)
