"""Bad requests: a clean 4xx problem+json each, no traceback, server healthy after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import bearer, make_app

MP = "multipart/form-data; boundary=xyz"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, str]]:
    """An app with a 64 KiB upload cap: (client, live key, revoked key)."""
    app = make_app(tmp_path_factory.mktemp("small"), max_upload_mb=1 / 16, burst=1000,
                   rate_per_minute=6000)
    store = app.state.service.store
    _, live = store.create_key("live")
    gone_key, gone = store.create_key("gone")
    store.revoke_key(gone_key.id)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, live, gone


def _part(body: bytes, name: str = "file", filename: str = "x.mp4") -> bytes:
    return (f'--xyz\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: video/mp4\r\n\r\n").encode() + body + b"\r\n--xyz--\r\n"


def _chunks(total: int, size: int = 16384) -> Iterator[bytes]:
    yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
    for _ in range(total // size):
        yield b"\0" * size


CASES = {
    "malformed multipart": (MP, b"this is not multipart at all", 400),
    "empty body": (MP, b"", 400),
    "no closing boundary": (MP, _part(b"abc")[:-12], 400),
    "no file part": (MP, _part(b"abc", name="other"), 400),
    "empty file": (MP, _part(b""), 400),
    "no boundary": ("multipart/form-data", _part(b"abc"), 400),
    "not multipart": ("application/json", b'{"file": "x"}', 415),
    "non-media as .mp4": (MP, _part(b"MZ\x90\0" + b"definitely not a video " * 40), 415),
    "truncated mp4": (MP, _part(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + b"\0" * 200), 422),
    "huge upload (declared)": (MP, _part(b"\0" * (200 * 1024)), 413),
}


def _assert_problem(r: object, status: int) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["type"].startswith("urn:")
    assert "Traceback" not in r.text and 'File "' not in r.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_upload(small: tuple[TestClient, str, str], case: str) -> None:
    client, live, _ = small
    ctype, body, status = CASES[case]
    r = client.post("/v1/checks", headers={**bearer(live), "content-type": ctype}, content=body)
    _assert_problem(r, status)
    store = client.app.state.service.store  # type: ignore[attr-defined]
    assert list(store.uploads.iterdir()) == []  # nothing half-written is kept
    assert client.get("/healthz").status_code == 200


def test_huge_streamed_upload(small: tuple[TestClient, str, str]) -> None:
    """No Content-Length (chunked): the cap stops the stream."""
    client, live, _ = small
    r = client.post("/v1/checks", headers={**bearer(live), "content-type": MP},
                    content=_chunks(400 * 1024))
    _assert_problem(r, 413)
    assert list(client.app.state.service.store.uploads.iterdir()) == []  # type: ignore


@pytest.mark.parametrize("who", ["no key", "wrong key", "revoked key", "basic auth"])
def test_bad_key(small: tuple[TestClient, str, str], who: str, astronaut_video: Path) -> None:
    client, _, gone = small
    headers = {"no key": {}, "wrong key": bearer("dpl_wrong"), "revoked key": bearer(gone),
               "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"}}[who]
    for method, url in (("GET", "/v1/checks"), ("GET", "/v1/checks/abc"),
                        ("DELETE", "/v1/checks/abc"), ("GET", "/v1/checks/abc/report")):
        r = client.request(method, url, headers=headers)
        _assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
    with open(astronaut_video, "rb") as fh:
        r = client.post("/v1/checks", headers=headers, files={"file": ("a.mp4", fh)})
    _assert_problem(r, 401)
    if who == "revoked key":
        assert "revoked" in r.json()["detail"]


@pytest.mark.parametrize("job_id", ["unknown", "a" * 300, "..%2F..%2Fetc", "' OR 1=1 --"])
def test_unknown_id(small: tuple[TestClient, str, str], job_id: str) -> None:
    client, live, _ = small
    for suffix in ("", "/report"):
        _assert_problem(client.get(f"/v1/checks/{job_id}{suffix}", headers=bearer(live)), 404)
    _assert_problem(client.delete(f"/v1/checks/{job_id}", headers=bearer(live)), 404)


def test_unknown_route_and_method(small: tuple[TestClient, str, str]) -> None:
    client, live, _ = small
    _assert_problem(client.get("/v2/nothing", headers=bearer(live)), 404)
    _assert_problem(client.put("/v1/checks", headers=bearer(live)), 405)


def test_rate_limit(tmp_path: Path) -> None:
    app = make_app(tmp_path, burst=3, rate_per_minute=1)
    _, key = app.state.service.store.create_key("k")
    client = TestClient(app)  # no lifespan: routes only
    codes = [client.get("/v1/checks", headers=bearer(key)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = client.get("/v1/checks", headers=bearer(key))
    _assert_problem(r, 429)
    assert int(r.headers["retry-after"]) >= 1
    _, other = app.state.service.store.create_key("other")  # limits are per key
    assert client.get("/v1/checks", headers=bearer(other)).status_code == 200
