"""The demo end to end (one shared run: it is the slowest test) and its report in a browser."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from doppelab.cli.main import main
from doppelab.demo.report import STAGES
from doppelab.extract.faceset import FaceSet

CHROMIUM = Path("/usr/bin/chromium")
FRAMES = 30  # 1.2 s at 25 fps


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """One short demo run with a few seconds of autoencoder training, in its own lab:
    (output folder, DOPPELAB_HOME, what it printed on stdout)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    home = tmp_path_factory.mktemp("demo-home")
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setenv("DOPPELAB_HOME", str(home))
        mp.delenv("DOPPELAB_REGISTRY", raising=False)
        code = main(["demo", "-o", str(out), "--seconds", "1.2", "--size", "256",
                     "--train-minutes", "0.05", "--frames", "12"])
    assert code == 0
    yield out, str(home), stdout.getvalue()


def test_demo_runs_the_whole_loop(demo: tuple[Path, str, str]) -> None:
    out, home, _ = demo
    facts = json.loads((out / "demo.json").read_text())
    assert len(FaceSet.open(out / "astronaut.faceset")) == FRAMES  # a face in every frame
    assert facts["extract"]["frames_with_face"] == FRAMES
    for method in ("mesh", "autoencoder"):
        swap = facts["swap"][method]
        assert swap["frames"] == FRAMES and swap["frames_swapped"] == FRAMES
        v = facts["verify"][f"fake_{method}"]
        assert v["manifest"]["state"] == "trusted"
        assert v["watermark"]["found"] and v["watermark"]["payload_id"] == int(
            swap["payload_id"], 16)
        assert v["registry"]["by_payload"]
    real = facts["verify"]["real"]
    assert real["manifest"]["state"] == "none" and not real["watermark"]["found"]
    assert set(facts["detect"]) == {"real", "fake_mesh", "fake_autoencoder"}
    assert all(d["frames_sampled"] == 12 for d in facts["detect"].values())
    assert facts["train"]["step"] >= 1
    assert facts["keys_dir"].startswith(home) and facts["keys_created"]  # in this lab only


def test_demo_prints_where_the_report_is(demo: tuple[Path, str, str]) -> None:
    out, _, printed = demo
    assert f"report: {out / 'demo.html'}" in printed
    assert "fake_mesh: detector says" in printed and "watermark found" in printed


def test_demo_exception_bad_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-o", str(tmp_path / "bad"), "--seconds", "0"]) == 2
    assert "--seconds must be" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_report_pictures_render_in_chromium(demo: tuple[Path, str, str]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    html = (demo[0] / "demo.html").read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto((demo[0] / "demo.html").as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({stage: i.dataset.stage, "
                "key: i.dataset.key, w: i.naturalWidth, h: i.naturalHeight, "
                "complete: i.complete, inline: i.src.startsWith('data:image/png;base64,')}))"
            )
        finally:
            browser.close()
    rendered = {(i["stage"], i["key"]) for i in images
                if i["complete"] and i["w"] > 0 and i["h"] > 0 and i["inline"]}
    for stage, _, _ in STAGES:
        assert any(s == stage for s, _ in rendered), f"no rendered picture for stage {stage}"
    wanted = {
        ("landmarks", "landmarks"), ("crop", "crop"), ("crop", "mask"),
        ("swap", "source"), ("swap", "frame_real"), ("swap", "frame_fake_mesh"),
        ("swap", "frame_fake_autoencoder"), ("swap", "train"),
        ("detect", "timeline"), ("detect", "heatmap_fake_mesh"),
        ("provenance", "watermark_pattern"), ("provenance", "watermark_evidence"),
    }
    assert wanted <= rendered, f"missing or not rendered: {sorted(wanted - rendered)}"


def test_rerun_clears_only_the_demos_own_artefacts(tmp_path: Path) -> None:
    from doppelab.demo.run import fresh

    ours = tmp_path / "astronaut.faceset"
    (ours / "shards").mkdir(parents=True)
    (ours / "faceset.json").write_text(json.dumps({"format": "doppelab.faceset"}))
    interrupted = tmp_path / "hopper.faceset"
    (interrupted / "journal").mkdir(parents=True)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"format": "doppelab.model"}))
    theirs = tmp_path / "photos"
    theirs.mkdir()
    (theirs / "faceset.json").write_text("not json")
    (theirs / "me.jpg").write_bytes(b"\xff\xd8")
    assert fresh(ours, "faceset.json", "doppelab.faceset") == ours and not ours.exists()
    fresh(interrupted, "faceset.json", "doppelab.faceset")
    fresh(model, "config.json", "doppelab.model")
    fresh(theirs, "faceset.json", "doppelab.faceset")
    fresh(tmp_path / "absent", "faceset.json", "doppelab.faceset")
    assert not interrupted.exists() and not model.exists()
    assert (theirs / "me.jpg").exists()  # never deletes what is not the demo's


def test_frame_at_is_that_frame_or_the_last(astronaut_video: Path, tmp_path: Path) -> None:
    import numpy as np

    from doppelab.core.media import iter_frames, write_image
    from doppelab.demo.run import frame_at

    frames = [f.image for f in iter_frames(astronaut_video)]
    for k in (0, 5, len(frames) - 1):
        assert np.array_equal(frame_at(astronaut_video, k), frames[k])
    assert np.array_equal(frame_at(astronaut_video, len(frames) + 7), frames[-1])
    photo = tmp_path / "one.png"
    write_image(photo, frames[3])
    assert np.array_equal(frame_at(photo, 0), frame_at(photo, 9))
