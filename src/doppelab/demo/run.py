"""The whole loop on built-in material: make clips, extract, create a labelled fake, detect, verify.

:func:`run_demo` returns a :class:`DemoResult` whose ``facts`` are the JSON report and whose
``figures`` are the pictures of each stage; :mod:`doppelab.demo.report` writes both. Every step
calls the same public functions as the CLI (``extract``, ``swap_file``, ``train``, ``Detect``,
``verify``), so the demo shows the product, not a copy of it. Nothing here prints.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from doppelab.core.errors import KeysMissingError, UsageError
from doppelab.core.media import iter_frames
from doppelab.core.storage import ensure_dir
from doppelab.core.types import ImageU8
from doppelab.core.version import __version__
from doppelab.demo import material, pictures
from doppelab.detect.predict import Detect, DetectConfig, MediaResult
from doppelab.detect.report import result_dict
from doppelab.extract.faceset import FORMAT, FaceSet
from doppelab.extract.pipeline import ExtractResult, extract
from doppelab.provenance.keys import init_keys, load_keys
from doppelab.provenance.verify import Verdict, verify
from doppelab.swap.convert import SwapConfig, SwapResult, swap_file
from doppelab.swap.methods import create_method

Say = Callable[[str], None]
TrainProgress = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    """Settings of ``doppelab demo``. ``train_minutes`` > 0 adds the autoencoder."""

    seconds: float = 3.0
    fps: int = 25
    size: int = 512
    train_minutes: float = 0.0
    detect_frames: int = 24
    shape: float = 0.8
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.5 <= self.seconds <= 30 or not 5 <= self.fps <= 60:
            raise UsageError("--seconds must be 0.5-30 and the frame rate 5-60")
        if self.size % 2 or not 128 <= self.size <= 1024:
            raise UsageError("--size must be even and 128-1024")
        if self.train_minutes < 0 or self.detect_frames < 1 or self.threads < 1:
            raise UsageError("--train-minutes >= 0, --frames >= 1, --threads >= 1")


@dataclass(slots=True, kw_only=True)
class DemoResult:
    """Everything the report shows: JSON-ready ``facts`` and ``figures`` (stage -> pictures)."""

    out: Path
    facts: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, list[pictures.Figure]] = field(default_factory=dict)


@dataclass(slots=True)
class _Run:
    cfg: DemoConfig
    out: Path
    say: Say
    train_progress: TrainProgress | None
    res: DemoResult
    t0: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    def stage(self, message: str) -> float:
        """Announce a stage; returns its start time for :meth:`done`."""
        self.say(f"[{time.perf_counter() - self.t0:6.1f} s] {message}")
        return time.perf_counter()

    def done(self, name: str, started: float) -> None:
        """Record the stage's duration under ``name``."""
        self.timings[name] = round(time.perf_counter() - started, 2)


def frame_at(path: Path, index: int) -> ImageU8:
    """Frame ``index`` of a video (the last one when the video is shorter). Frames before
    ``index`` are decoded but not converted (``iter_frames(start=)``)."""
    for frame in iter_frames(path, start=index):
        return frame.image
    last: ImageU8 | None = None
    for frame in iter_frames(path):  # shorter than index + 1 frames: the last one
        last = frame.image
    if last is None:
        raise UsageError(f"{path} has no frames")
    return last


def fresh(path: Path, marker: str, fmt: str) -> Path:
    """``path`` cleared of the demo's own artefact from an earlier run, so a re-run starts clean
    (a FaceSet would otherwise add the new clip's faces to the old ones). Only removed when it is
    one: ``marker`` holds JSON with ``"format": fmt``, or an interrupted FaceSet's journal."""
    try:
        ours = json.loads((path / marker).read_text()).get("format") == fmt
    except (OSError, ValueError, AttributeError):
        ours = fmt == FORMAT and (path / "journal").is_dir() and not (
            set(os.listdir(path)) - {"journal", "shards"})
    if ours:
        shutil.rmtree(path)
    return path


def _ensure_keys() -> dict[str, Any]:
    """The lab's signing keys folder, created first when there are none (labelling needs them)."""
    try:
        return {"keys_dir": str(load_keys().keys_dir), "keys_created": False}
    except KeysMissingError:
        return {"keys_dir": str(init_keys()), "keys_created": True}


def _extract_facts(r: ExtractResult) -> dict[str, Any]:
    return {
        "path": str(r.path),
        "faces": r.faces,
        "people": r.people,
        "frames": r.frames,
        "frames_with_face": r.frames_with_face,
        "seconds": round(r.seconds, 2),
    }


def _swap_facts(r: SwapResult) -> dict[str, Any]:
    return {
        "path": str(r.path),
        "method": r.method,
        "frames": r.frames,
        "frames_swapped": r.frames_swapped,
        "payload_id": f"{r.payload_id:08x}",
        "manifest_sha256": r.manifest_sha256,
        "seconds": round(r.seconds, 2),
        "fps": round(r.frames / max(r.seconds, 1e-9), 1),
    }


def _make_material(run: _Run) -> tuple[Path, Path]:
    t = run.stage("1 material: a test clip from the astronaut photo (public domain)")
    cfg = run.cfg
    clip = material.make_clip(
        material.astronaut_image(), run.out / "real_astronaut.mp4",
        seconds=cfg.seconds, fps=cfg.fps, size=cfg.size,
    )
    source = material.hopper()
    assert source.path is not None
    run.res.facts["material"] = {
        "target": {**asdict(material.ASTRONAUT), "clip": str(clip)},
        "source": {**asdict(source), "path": str(source.path)},
        "why": "a swap needs a second person and nothing may be downloaded: among the images "
        "installed with doppelab's dependencies these two public-domain portraits of adults are "
        "the usable faces (scikit-image's lfw_subset faces are 25x25 px, too small to swap)",
    }
    run.done("material", t)
    return clip, source.path


def _extract_target(run: _Run, clip: Path) -> FaceSet:
    t = run.stage("2 extract: detect, track 478 landmarks, align, mask, embed")
    r = extract([clip], fresh(run.out / "astronaut.faceset", "faceset.json", FORMAT))
    run.res.facts["extract"] = _extract_facts(r)
    run.done("extract", t)
    return FaceSet.open(r.path)


def _mesh_swap(run: _Run, clip: Path, source: Path) -> SwapResult:
    t = run.stage("3 create: training-free mesh swap, labelled on write")
    keys = _ensure_keys()
    run.res.facts.update(keys)
    if keys["keys_created"]:
        run.say(f"         created the lab's signing keys in {keys['keys_dir']}")
    method = create_method("mesh", source=source, shape=run.cfg.shape)
    r = swap_file(method, clip, run.out / "fake_mesh.mp4", SwapConfig(), sources={"source": source})
    run.res.facts.setdefault("swap", {})["mesh"] = _swap_facts(r)
    run.done("swap_mesh", t)
    return r


def _autoencoder(run: _Run, clip: Path, target_fs: FaceSet) -> SwapResult:
    from doppelab.swap.autoencoder.model import ModelConfig
    from doppelab.swap.autoencoder.train import TrainConfig, train

    cfg = run.cfg
    t = run.stage(f"3b train: small autoencoder for {cfg.train_minutes:g} min")
    src_clip = material.make_clip(
        material.hopper_image(cfg.size), run.out / "source_hopper.mp4",
        seconds=cfg.seconds, fps=cfg.fps, size=cfg.size,
    )
    src_fs = extract([src_clip], fresh(run.out / "hopper.faceset", "faceset.json",
                                       FORMAT))
    tcfg = TrainConfig(
        steps=1_000_000, minutes=cfg.train_minutes, threads=cfg.threads,
        save_every=200, preview_every=100_000,
    )
    model = fresh(run.out / "model", "config.json", "doppelab.model")
    tr = train(src_fs.path, target_fs.root, model, ModelConfig(), tcfg,
               progress=run.train_progress)
    run.res.facts["train"] = {
        "path": str(tr.path), "step": tr.step, "it_per_s": round(tr.it_per_s, 2),
        "losses": {k: round(v, 4) for k, v in tr.losses.items()}, "model_hash": tr.model_hash,
    }
    previews = sorted((tr.path / "previews").glob("step_*.png"))
    if previews:
        run.res.figures.setdefault("swap", []).append(pictures.from_file(
            previews[-1], "train", f"autoencoder previews at step {tr.step} (rows: Hopper, "
            "Hopper->Hopper, Hopper->astronaut, astronaut, astronaut->astronaut, "
            "astronaut->Hopper)"))
    run.done("train", t)
    t = run.stage("3c create: autoencoder swap, labelled on write")
    method = create_method("autoencoder", model=tr.path)
    r = swap_file(method, clip, run.out / "fake_autoencoder.mp4", SwapConfig())
    run.res.facts["swap"]["autoencoder"] = _swap_facts(r)
    run.done("swap_autoencoder", t)
    return r


def _detect(run: _Run, files: dict[str, Path]) -> dict[str, MediaResult]:
    t = run.stage(f"4 detect: {', '.join(files)} (blend CNN, frequency, temporal)")
    det = Detect(DetectConfig(frames=run.cfg.detect_frames, threads=run.cfg.threads))
    results = {name: det.run(path) for name, path in files.items()}
    run.res.facts["detect"] = {name: result_dict(r) for name, r in results.items()}
    run.done("detect", t)
    return results


def _verify(run: _Run, files: dict[str, Path]) -> dict[str, Verdict]:
    t = run.stage("5 verify provenance: C2PA manifest, watermark, registry")
    verdicts = {name: verify(path) for name, path in files.items()}
    run.res.facts["verify"] = {name: v.to_dict() for name, v in verdicts.items()}
    run.done("verify", t)
    return verdicts


def _figures(run: _Run, fs: FaceSet, files: dict[str, Path], source: Path,
             detected: dict[str, MediaResult], fakes: dict[str, SwapResult]) -> None:
    t = run.stage("6 report: pictures of every stage")
    figs = run.res.figures
    i = pictures.middle_face(fs)
    face = fs.face(i)
    k = face.source.index
    frames = {name: frame_at(path, k) for name, path in files.items()}
    figs["landmarks"] = [pictures.landmarks_figure(frames["real"], face)]
    figs["crop"] = pictures.crop_figures(face)
    figs["swap"] = (pictures.swap_figures(source, frames) + pictures.closeups(frames, face)
                    + figs.get("swap", []))
    figs["detect"] = pictures.detect_figures(detected)
    fake_payloads = {name: r.payload_id for name, r in fakes.items()}
    figs["provenance"] = pictures.provenance_figures(
        frames, fake_payloads, run.res.facts["verify"])
    run.done("pictures", t)


def run_demo(
    out: str | Path,
    config: DemoConfig | None = None,
    *,
    say: Say | None = None,
    train_progress: TrainProgress | None = None,
) -> DemoResult:
    """Run the whole loop into the folder ``out`` and return its facts and pictures.

    Writes ``out/real_astronaut.mp4``, ``out/astronaut.faceset``, ``out/fake_mesh.mp4`` (and,
    with ``train_minutes``, ``out/model`` and ``out/fake_autoencoder.mp4``). Creates the lab's
    signing keys when there are none yet. ``say`` receives one line per stage.
    """
    cfg = config or DemoConfig()
    run = _Run(cfg, ensure_dir(out), say or (lambda _m: None), train_progress,
               DemoResult(out=Path(out)))
    facts = run.res.facts
    facts.update(doppelab=__version__, config=asdict(cfg), cpus=os.cpu_count())
    clip, source = _make_material(run)
    fs = _extract_target(run, clip)
    fakes = {"mesh": _mesh_swap(run, clip, source)}
    if cfg.train_minutes > 0:
        fakes["autoencoder"] = _autoencoder(run, clip, fs)
    files = {"real": clip, **{f"fake_{n}": r.path for n, r in fakes.items()}}
    detected = _detect(run, files)
    _verify(run, files)
    _figures(run, fs, files, source, detected, fakes)
    facts["timings"] = run.timings
    facts["seconds"] = round(time.perf_counter() - run.t0, 2)
    facts["summary"] = summary(facts)
    return run.res


def summary(facts: dict[str, Any]) -> list[str]:
    """One line per file: the detector's verdict and what provenance verification found."""
    lines = []
    for name, d in facts.get("detect", {}).items():
        v = facts.get("verify", {}).get(name, {})
        p = d.get("probability")
        prob = "n/a" if p is None else f"{p:.2f}"
        lines.append(
            f"{name}: detector says {d.get('verdict')} (P(fake) {prob}); provenance: "
            f"{v.get('summary', 'not checked')}"
        )
    return lines

