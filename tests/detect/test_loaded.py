"""Detectors loaded once per worker process (the service's pool and the batch actors)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import pytest
import torch

from doppelab.core.errors import UsageError
from doppelab.detect import loaded, predict


class _FakeDetect:
    """Stands in for Detect (loading the real models takes seconds); counts the loads."""

    loads = 0

    def __init__(self, config: predict.DetectConfig) -> None:
        type(self).loads += 1
        self.config = config

    def run(self, path: str) -> Any:
        raise UsageError(f"fake detector, no verdict: {path}")


@pytest.fixture
def fake_detect(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FakeDetect]]:
    monkeypatch.setattr(predict, "Detect", _FakeDetect)
    monkeypatch.setattr(loaded, "_IDLE", {})
    _FakeDetect.loads = 0
    yield _FakeDetect


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(before[0])
    cv2.setNumThreads(before[1])


def test_cap_threads(monkeypatch: pytest.MonkeyPatch, restore_threads: None) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the caller's own setting is kept
    monkeypatch.setenv("MKL_NUM_THREADS", "")
    monkeypatch.delenv("MKL_NUM_THREADS")
    loaded.cap_threads(1)
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["MKL_NUM_THREADS"] == "1"


def test_cap_threads_exception() -> None:
    with pytest.raises(UsageError, match="threads must be >= 1"):
        loaded.cap_threads(0)


def test_loaned_loads_once_and_never_shares(fake_detect: type[_FakeDetect]) -> None:
    assert loaded.warm(4)
    with loaded.loaned(4) as first, loaded.loaned(4) as second:  # 1st busy: a 2nd one loads
        assert second is not first
    with loaded.loaned(4) as again:
        assert again in (first, second)
    assert fake_detect.loads == 2
    with loaded.loaned(8, threads=2) as other:  # other settings, other detectors
        assert (other.config.frames, other.config.threads) == (8, 2)
    assert fake_detect.loads == 3


def test_loaned_across_threads(fake_detect: type[_FakeDetect]) -> None:
    seen: list[int] = []
    barrier = threading.Barrier(3)

    def work() -> None:
        with loaded.loaned(4) as det:
            seen.append(id(det))
            barrier.wait(timeout=10)  # all three hold one at once

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 3 and fake_detect.loads == 3


def test_batch_checker_uses_the_shared_loader(fake_detect: type[_FakeDetect],
                                              restore_threads: None) -> None:
    from doppelab.scale.batch import Checker

    checker = Checker(4)
    assert checker.ready() and fake_detect.loads == 1 and torch.get_num_threads() == 1
    row = checker.check("x.mp4")
    assert row["status"] == "error" and "fake detector" in row["error"]
    checker.check("y.mp4")
    assert fake_detect.loads == 1  # loaded once per process
