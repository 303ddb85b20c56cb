"""Property-based requests generated from the OpenAPI spec (schemathesis), valid and invalid:
no 5xx, every response as documented (status, content type, body schema), auth enforced,
invalid data rejected, the server healthy after."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from tests.service.conftest import bearer, make_app  # noqa: E402


@pytest.mark.slow
def test_spec_conformance(tmp_path: Path) -> None:
    # positive_data_acceptance is left out: the spec can say "a binary file" but not "a file
    # that decodes as media", so schema-valid random bytes are rightly refused with 415.
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    app = make_app(tmp_path, burst=100000, rate_per_minute=1e6, max_upload_mb=1.0)
    _, key = app.state.service.store.create_key("fuzz")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == 6
    for op, mode in itertools.product(operations, list(GenerationMode)):

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def run(case: Any) -> None:
            case.call_and_validate(headers=bearer(key),
                                   excluded_checks=[positive_data_acceptance])

        try:
            run()
        except Unsatisfiable:
            # nothing invalid can be made for an operation without inputs (GET /healthz)
            assert mode is GenerationMode.NEGATIVE, op.label
    from starlette.testclient import TestClient

    health = TestClient(app).get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # schemathesis also sends real tiny PNG/JPEG files: those (and only media) became checks
    from doppelab.core.media import probe

    store = app.state.service.store
    for upload in store.uploads.iterdir():
        assert probe(upload).kind in ("image", "video")
