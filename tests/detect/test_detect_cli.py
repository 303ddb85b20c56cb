"""``doppelab detect`` / ``eval`` end to end on generated inputs."""

from __future__ import annotations

import json
import warnings
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from doppelab.cli.main import main
from doppelab.core.errors import EmptyFileError, NotMediaError
from doppelab.detect.evaluate import Labelled, roc_png
from doppelab.detect.predict import Detect, DetectConfig, MediaResult, sample_indices, verdict
from tests.conftest import shifted_frames


@pytest.fixture(scope="module")
def detector() -> Detect:
    return Detect(DetectConfig(frames=8))


def _png(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), image[..., ::-1])
    return path


def test_no_face_is_inconclusive(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grey = _png(tmp_path / "grey.png", np.full((200, 300, 3), 120, np.uint8))
    assert main(["detect", str(grey), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["verdict"] == "inconclusive" and res["reason"] == "no face"
    assert res["probability"] is None


def test_bad_media_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("hello, this is not a video\n" * 20)
    assert main(["detect", str(empty)]) == 3
    assert main(["detect", str(text)]) == 3
    assert main(["detect", str(tmp_path / "missing.jpg")]) == 3
    assert main(["detect", str(text), "--detectors", "nope"]) == 2
    capsys.readouterr()


def test_bad_media_typed_errors(tmp_path: Path, detector: Detect) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        detector.run(empty)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(NotMediaError):
        detector.run(junk)


def test_face_image_report(
    tmp_path: Path, astronaut: np.ndarray, capsys: pytest.CaptureFixture
) -> None:
    img = _png(tmp_path / "astro.png", astronaut)
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["detect", str(img), "--report", str(html), "--json-out", str(js)]) == 0
    line = capsys.readouterr().out
    assert "astro.png" in line and "P(fake)=" in line
    res = json.loads(js.read_text())["results"][0]
    assert res["verdict"] in ("likely real", "likely fake", "inconclusive")
    assert 0.0 <= res["probability"] <= 1.0
    assert set(res["detectors"]) == {"blend", "frequency"}
    page = html.read_text()
    assert "data:image/png;base64," in page and 'src="http' not in page


def test_video_timeline_and_temporal(astronaut_video: Path, detector: Detect) -> None:
    res = detector.run(astronaut_video)
    assert res.kind == "video" and res.frames_total == 12 and res.frames_sampled == 8
    assert len(res.timeline) == 8 and res.probability is not None
    assert "temporal" in res.detectors and res.temporal
    assert res.suspicious and res.suspicious[0]["heatmap"].shape == (128, 128)


def test_small_face_reason(tmp_path: Path, astronaut: np.ndarray, detector: Detect) -> None:
    small = cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 90, np.uint8)
    canvas[150:246, 150:246] = small
    res = detector.run(_png(tmp_path / "small.png", canvas))
    assert res.verdict == "inconclusive"
    assert res.reason in ("face too small", "no face")


def test_dark_face_reason(tmp_path: Path, astronaut: np.ndarray, detector: Detect) -> None:
    dark = (astronaut.astype(np.float32) * 0.12).astype(np.uint8)
    res = detector.run(_png(tmp_path / "dark.png", dark))
    assert res.verdict == "inconclusive" and res.reason in ("too dark", "no face")


def _garbage_audio_video(path: Path, astronaut: np.ndarray) -> Path:
    """Good H.264 frames beside an AAC track whose packets are random bytes."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width = vs.height = 256
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=16000, layout="mono")
        for img in shifted_frames(astronaut, 6):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        for k in range(10):
            pkt = av.Packet(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
            pkt.stream, pkt.pts, pkt.dts = aus, k * 1024, k * 1024
            pkt.time_base = Fraction(1, 16000)
            out.mux(pkt)
    return path


def test_video_with_unreadable_audio_track(
    tmp_path: Path, astronaut: np.ndarray, detector: Detect
) -> None:
    """The frames decode, the audio does not: the face verdict stands, the audio evidence is
    inconclusive (the whole file used to be refused with exit code 3)."""
    video = _garbage_audio_video(tmp_path / "garbage_audio.mp4", astronaut)
    res = detector.run(video)
    assert len(res.faces) > 0 and res.probability is not None
    assert res.speech is not None and res.speech["reason"] == "unreadable audio track"
    assert res.av_sync is not None and res.av_sync["verdict"] == "inconclusive"


def test_verdict_and_sampling() -> None:
    assert verdict(0.9, 0.15)[0] == "likely fake"
    assert verdict(0.1, 0.15)[0] == "likely real"
    assert verdict(0.55, 0.15) == ("inconclusive", "score near the decision threshold")
    assert sample_indices(100, 32).tolist()[:3] == [0, 3, 6] and len(sample_indices(100, 32)) == 32
    assert sample_indices(5, 32).tolist() == [0, 1, 2, 3, 4]


def test_eval_cli(tmp_path: Path, astronaut: np.ndarray, capsys: pytest.CaptureFixture) -> None:
    a = _png(tmp_path / "a.png", astronaut)
    b = _png(tmp_path / "b.png", astronaut[:, ::-1])
    g = _png(tmp_path / "g.png", np.full((64, 64, 3), 100, np.uint8))
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label,source\n{a.name},0,\n{b.name},fake,mirror\n{g},1,grey\n")
    out = tmp_path / "ev"
    assert main(["eval", str(labels), "--out", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["files"] == 3 and m["scored"] == 2 and len(m["unscored"]) == 1
    assert m["video"]["all"]["n"] == 2
    assert (out / "roc.png").is_file() and (out / "eval.json").is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("file,y\nx,1\n")
    assert main(["eval", str(bad)]) == 2
    capsys.readouterr()


def test_eval_bad_label_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A binary labels file is a usage error, not a UnicodeDecodeError."""
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    assert main(["eval", str(binary), "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert "not a readable CSV text file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists()


def test_roc_png_without_both_classes(tmp_path: Path) -> None:
    """Only real files scored: no ROC curve, and no matplotlib legend warning on stderr."""
    res = MediaResult(path="a.png", kind="image", width=8, height=8, frames_total=1,
                      frames_sampled=1)
    res.probability = 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roc_png([(Labelled(path=Path("a.png"), label=0, source="real"), res)],
                tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 0


@pytest.mark.parametrize("only", ["avsync", "speech", "temporal", "speech,avsync"])
def test_detectors_without_a_face_detector(
    only: str, astronaut_video: Path, capsys: pytest.CaptureFixture
) -> None:
    """A video with a face and only non-face detectors chosen used to crash (IndexError on the
    empty fused face logits)."""
    assert main(["detect", str(astronaut_video), "--detectors", only, "--json",
                 "--frames", "8"]) == 0
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert not any(f.get("probability") is not None for f in res["faces"])
    if only == "temporal":
        assert res["verdict"] in ("likely real", "likely fake", "inconclusive")
        assert res["probability"] is not None and "temporal" in res["detectors"]
    else:
        assert res["verdict"] == "inconclusive" and res["probability"] is None
    if "avsync" in only:  # a long video is not read to its end by default
        assert res["av_sync"]["max_seconds"] == 120.0


def test_roc_figure_has_the_speech_levels() -> None:
    """Audio files labelled real and fake: the ROC figure draws the speech detector's file and
    window curves beside the fused one (eval's metrics have those levels; the plot had not)."""
    from doppelab.detect.evaluate import _roc_figure
    from doppelab.detect.report import pyplot

    rows = []
    for label, p in ((0, 0.2), (0, 0.4), (1, 0.7), (1, 0.3)):
        res = MediaResult(path=f"{p}.wav", kind="audio", width=0, height=0, frames_total=0,
                          frames_sampled=0)
        res.probability = p
        res.speech = {"probability": p, "windows": [{"probability": p}, {"probability": 1 - p}]}
        rows.append((Labelled(path=Path(f"{p}.wav"), label=label, source="x"), res))
    fig = _roc_figure(rows)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    pyplot().close(fig)
    assert labels == ["video", "speech", "speech_window"]
