"""Shared fixtures: small generated media and the public-domain astronaut photo (scikit-image)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def requires_data() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (DATA_DIR / "clips.csv").exists(),
        reason=f"needs the shared data set at {DATA_DIR} (absent here)",
    )


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """Eileen Collins' NASA portrait (public domain), 512x512 RGB, shipped in scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def shifted_frames(image: np.ndarray, n: int, size: int = 256) -> list[np.ndarray]:
    """``n`` frames of ``image`` scaled to ``size`` and moved/rotated a little each frame."""
    base = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(n):
        m = cv2.getRotationMatrix2D((size / 2, size / 2), 2.0 * np.sin(i / 3), 1.0 + 0.01 * i)
        m[:, 2] += (2.0 * np.cos(i / 4), 1.5 * np.sin(i / 5))
        out.append(cv2.warpAffine(base, m, (size, size), borderMode=cv2.BORDER_REFLECT101))
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Encode RGB frames as H.264 MP4 with PyAV (test input generator)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for img in frames:
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path


@pytest.fixture(scope="session")
def astronaut_video(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("media") / "astronaut.mp4"
    return write_video(path, shifted_frames(astronaut, 12))


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys and the registry of every test live in a temporary DOPPELAB_HOME, never the user's."""
    monkeypatch.setenv("DOPPELAB_HOME", str(tmp_path_factory.mktemp("doppelab-home")))
    monkeypatch.delenv("DOPPELAB_REGISTRY", raising=False)
