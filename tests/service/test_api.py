"""The check API end to end: upload, poll, result, report, ownership, delete."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.service.conftest import bearer, wait_done


def _upload(client: TestClient, token: str, path: Path, name: str = "clip.mp4") -> dict:
    with open(path, "rb") as fh:
        r = client.post("/v1/checks", headers=bearer(token),
                        files={"file": (name, fh, "application/octet-stream")})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/checks/{r.json()['id']}"
    return r.json()


def test_healthz_needs_no_key(service: tuple[TestClient, str, str]) -> None:
    client, _, _ = service
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_roundtrip(service: tuple[TestClient, str, str], astronaut_video: Path) -> None:
    client, key_a, key_b = service
    created = _upload(client, key_a, astronaut_video, "../../etc/passwd.mp4")
    assert created["status"] == "queued" and created["kind"] == "video"
    assert created["filename"] == "passwd.mp4"  # display name only, no path
    store = client.app.state.service.store  # type: ignore[attr-defined]
    stored = [p.name for p in store.uploads.iterdir()]
    assert len(stored) == 1 and "passwd" not in stored[0] and stored[0].endswith(".mp4")
    done = wait_done(client, created["id"], key_a)
    assert done["status"] == "done", done
    assert done["progress"] == 1.0
    res = done["result"]
    assert res["detect"]["verdict"] in ("likely fake", "likely real", "inconclusive")
    assert res["detect"]["path"] == "passwd.mp4"
    assert len(res["detect"]["timeline"]) >= 2
    assert res["heatmaps"] and res["heatmaps"][0]["image"].startswith("data:image/png;base64,")
    assert res["verify"]["summary"].startswith("no provenance found")
    assert str(store.root) not in str(done)  # no server path leaks
    report = client.get(f"/v1/checks/{created['id']}/report", headers=bearer(key_a))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "passwd.mp4" in report.text and str(store.root) not in report.text
    listed = client.get("/v1/checks", headers=bearer(key_a)).json()["checks"]
    assert [c["id"] for c in listed] == [created["id"]]
    # another key sees nothing of it
    assert client.get("/v1/checks", headers=bearer(key_b)).json()["checks"] == []
    for method, url in (("GET", ""), ("GET", "/report"), ("DELETE", "")):
        r = client.request(method, f"/v1/checks/{created['id']}{url}", headers=bearer(key_b))
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
    assert client.delete(f"/v1/checks/{created['id']}", headers=bearer(key_a)).status_code == 204
    assert client.get(f"/v1/checks/{created['id']}", headers=bearer(key_a)).status_code == 404
    assert list(store.uploads.iterdir()) == [] and list(store.reports.iterdir()) == []


def test_image_without_face_is_inconclusive(
    service: tuple[TestClient, str, str], tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    client, key_a, _ = service
    img = tmp_path / "grey.png"
    cv2.imwrite(str(img), np.full((64, 64, 3), 128, np.uint8))
    created = _upload(client, key_a, img, "photo.mp4")  # name says mp4, content says PNG
    assert created["kind"] == "image"
    done = wait_done(client, created["id"], key_a)
    assert done["status"] == "done"
    assert done["result"]["detect"]["verdict"] == "inconclusive"
    assert client.get(f"/v1/checks/{created['id']}/report", headers=bearer(key_a)).status_code \
        == 200
