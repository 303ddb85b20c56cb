"""The web page end to end in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.service.conftest import make_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="needs Debian's chromium at /usr/bin/chromium (absent here)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """uvicorn serving the app on a free loopback port: (base URL, API key)."""
    import uvicorn

    app = make_app(tmp_path)
    _, key = app.state.service.store.create_key("page")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t_end = time.monotonic() + 30
    while not srv.started and time.monotonic() < t_end:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", key
    srv.should_exit = True
    thread.join(timeout=15)


def _not_blank(png: bytes, min_std: float = 8.0) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32)
    assert img.std() > min_std, "screenshot is blank"
    return img


def test_page_upload_to_verdict(server: tuple[str, str], astronaut_video: Path,
                                tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    base, key = server
    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.fill("#api-key", key)
        page.set_input_files("#file", str(astronaut_video))
        page.click("#submit")
        page.wait_for_selector("#status", state="visible", timeout=30_000)
        page.locator("#verdict").wait_for(state="visible", timeout=240_000)
        verdict = page.inner_text("#verdict")
        assert verdict.split(" (")[0] in ("likely fake", "likely real", "inconclusive")
        assert page.inner_text("#status") == "done"
        assert page.locator("#timeline circle").count() >= 2
        assert page.locator("#heatmaps img").count() >= 1
        assert page.locator("#provenance tr").count() == 4
        assert "no provenance found" in page.inner_text("#provenance")
        assert page.locator("#checks li").count() == 1
        shot = page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        _not_blank(shot)
        box = page.locator("#verdict").screenshot()
        vimg = _not_blank(box, min_std=4.0)
        # the verdict is drawn in its colour (red / green / amber), not just grey text
        sat = vimg.max(axis=2) - vimg.min(axis=2)
        assert (sat > 40).mean() > 0.005
        heat = _not_blank(page.locator("#heatmaps img").first.screenshot())
        assert heat.shape[0] >= 100
        # a wrong key is reported on the page, not swallowed
        page.fill("#api-key", "dpl_wrong")
        page.click("#submit")
        page.wait_for_function(
            "document.getElementById('message').textContent.includes('Unauthorized')",
            timeout=30_000)
        browser.close()
    assert errors == []
