from __future__ import annotations

import threading

import pytest

from doppelab.core.concurrency import prefetch


def test_prefetch_keeps_order_and_runs_in_a_thread() -> None:
    names = []

    def gen():
        for i in range(50):
            names.append(threading.current_thread().name)
            yield i

    assert list(prefetch(gen(), depth=3)) == list(range(50))
    assert set(names) == {"doppelab-prefetch"}


def test_prefetch_reraises_and_stops_early() -> None:
    def bad():
        yield 1
        raise ValueError("boom")

    it = prefetch(bad())
    assert next(it) == 1
    with pytest.raises(ValueError, match="boom"):
        next(it)
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it2 = prefetch(endless(), depth=2)
    assert next(it2) == 0
    it2.close()  # the producer stops instead of running forever
    n = len(produced)
    assert n < 10
