"""Fixtures of the service tests: an app on a temporary data folder with a thread pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from doppelab.service.app import ServiceConfig, create_app
from doppelab.service.runner import RunnerConfig

FRAMES = 8  # frames sampled per video: enough for a timeline, fast enough for tests


def make_app(data_dir: Path, **kw: Any) -> Any:
    runner = RunnerConfig(workers=1, pool="thread", frames=FRAMES,
                          retention_s=kw.pop("retention_s", 3600.0), sweep_every_s=3600.0)
    return create_app(ServiceConfig(data_dir=data_dir, runner=runner, **kw))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_done(client: TestClient, job_id: str, token: str, timeout: float = 180.0) -> dict:
    """Poll a check until it is done or failed."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        body = client.get(f"/v1/checks/{job_id}", headers=bearer(token)).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"check {job_id} not finished after {timeout} s")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, str]]:
    """A running app (lifespan entered) with two API keys: (client, key A, key B)."""
    app = make_app(tmp_path_factory.mktemp("service"), burst=1000, rate_per_minute=6000)
    store = app.state.service.store
    _, key_a = store.create_key("a")
    _, key_b = store.create_key("b")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, key_a, key_b
