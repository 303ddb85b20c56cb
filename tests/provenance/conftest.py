"""Fixtures for provenance tests: an isolated DOPPELAB_HOME with lab keys, attacks, images."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from skimage import data

from doppelab.provenance.keys import init_keys


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DOPPELAB_HOME (keys and registry go there, never to the user's config)."""
    monkeypatch.setenv("DOPPELAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOPPELAB_REGISTRY", raising=False)
    return tmp_path / "home"


@pytest.fixture
def lab(home: Path) -> Path:
    """DOPPELAB_HOME with lab keys created."""
    init_keys()
    return home


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """A second, non-square photo shipped with scikit-image (400x600)."""
    return np.ascontiguousarray(data.coffee())


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def h264(img: np.ndarray, crf: int, frames: int = 3) -> np.ndarray:
    """Encode ``frames`` copies as H.264 yuv420p at ``crf`` in memory; return the middle one."""
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    img = np.ascontiguousarray(img[:h, :w])
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as inp:
        decoded = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    return decoded[len(decoded) // 2]


def crop(img: np.ndarray, frac: float, resize_back: bool) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = round(h * (1 - frac)), round(w * (1 - frac))
    y0, x0 = (h - ch) // 3, (w - cw) // 4  # off-centre on purpose
    out = img[y0:y0 + ch, x0:x0 + cw]
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) if resize_back else out


def downscale(img: np.ndarray, back: bool) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) if back else small


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda x: x,
    "jpeg50": lambda x: jpeg(x, 50),
    "jpeg75": lambda x: jpeg(x, 75),
    "h264_crf23": lambda x: h264(x, 23),
    "h264_crf28": lambda x: h264(x, 28),
    "down0.5": lambda x: downscale(x, False),
    "down0.5_up": lambda x: downscale(x, True),
    "crop10": lambda x: crop(x, 0.1, False),
    "crop10_resized": lambda x: crop(x, 0.1, True),
    "brightness1.2": lambda x: np.clip(x.astype(np.float32) * 1.2, 0, 255).astype(np.uint8),
    "hflip": lambda x: np.ascontiguousarray(x[:, ::-1]),
}
