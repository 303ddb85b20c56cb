"""The reproducible training recipe behind the shipped detector weights (``detect-train``).

Stages (each writes its artefact under ``work_dir`` and is skipped when that artefact exists, so a
stopped run resumes):

1. ``facesets/``: FaceSets of the shared data set's train and dev clips and photos
   (:func:`~doppelab.detect.data.build_facesets`);
2. ``train_table.npz`` / ``dev_table.npz``: the faces at network size, with identity and split;
3. ``swaps/`` + ``swap_table.npz``: mesh and autoencoder swaps of the designated pairs and their
   marked real controls, with ``swaps/manifest.json`` (:mod:`~doppelab.detect.swapfakes`);
4. ``blend/``: BlendNet training (:mod:`~doppelab.detect.train_blend`), ``blend/best.pt``;
5. ``model/``: the exported detector files (ONNX model, frequency classifier, temporal
   statistics, fusion and calibration, the video rule fitted on held-out train identities),
   ready to copy into ``doppelab/detect/weights``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.storage import atomic_write_npz, atomic_write_text, ensure_dir
from doppelab.detect import shipped
from doppelab.detect.augment import AugmentConfig
from doppelab.detect.card import write_model_card
from doppelab.detect.data import (
    FaceTable,
    build_facesets,
    is_holdout,
    list_items,
    load_table,
    read_table,
    save_table,
)
from doppelab.detect.metrics import summary
from doppelab.detect.swapfakes import SwapTable, read_swap_table, work_manifest
from doppelab.detect.train_blend import TrainConfig, make_pairs, swap_draw, train

Log = Callable[[dict[str, Any]], None]
NO_FLIP = AugmentConfig(p_flip=0.0)
# the codec round: H.264 at a random face scale and nothing else (augment.codec)
CODEC_ONLY = AugmentConfig(
    p_jpeg=0.0, p_resize=0.0, p_blur=0.0, p_noise=0.0, p_tone=0.0, p_flip=0.0, p_codec=1.0
)
PAIR_CHUNK = 256  # pair_set draws its pairs this many table rows at a time (reals, then fakes)
FACESETS = ("train_clips", "train_photos")
DEV_FACESETS = ("dev_clips", "dev_photos")


def stage_tables(data_dir: str | Path, work: Path) -> tuple[Path, Path]:
    """FaceSets, then the train and dev tables (cached as .npz)."""
    fs_dir = work / "facesets"
    if not all(
        (fs_dir / f"{n}.faceset" / "faceset.json").exists() for n in FACESETS + DEV_FACESETS
    ):
        build_facesets(data_dir, fs_dir)
    out = []
    for name, sets in (("train", FACESETS), ("dev", DEV_FACESETS)):
        path = work / f"{name}_table.npz"
        if not path.exists():
            table = load_table([fs_dir / f"{n}.faceset" for n in sets], data_dir)
            save_table(table, path)
        out.append(path)
    if not (work / "dataset.json").exists():
        write_manifest(work, out[0], out[1])
    return out[0], out[1]


def write_manifest(work: Path, train_path: Path, dev_path: Path) -> Path:
    """``dataset.json``: which faces are real (per split, part and media) and how fakes are made."""
    from dataclasses import asdict

    from doppelab.detect.selfblend import BlendConfig

    def count(t: FaceTable, keep: npt.NDArray[np.bool_]) -> dict[str, int]:
        names, n = np.unique(t.media[keep], return_counts=True)
        return {str(a): int(b) for a, b in zip(names, n, strict=True)}

    train, dev = read_table(train_path), read_table(dev_path)
    manifest = {
        "real": {
            "train_fit": count(train, ~train.holdout),
            "train_holdout": count(train, train.holdout),
            "dev": count(dev, np.ones(len(dev), bool)),
        },
        "fake": {
            "self-blend": "made on the fly from each real face (doppelab.detect.selfblend)",
            "config": asdict(BlendConfig()),
            "augment": asdict(AugmentConfig()),
            "mesh/autoencoder": "swaps of the designated pairs only (both directions), "
            "listed in swaps/manifest.json; pairs with a held-out identity are held out",
        },
        "watermark": "self-blends and their reals carry no watermark; every swap carries the "
        "creation watermark and so does its real control (the same clip marked with the same "
        "embedder and encoder settings), so the mark is in both classes",
    }
    swaps = work_manifest(work)
    if swaps is not None:
        manifest["swaps"] = swaps.to_dict()
    atomic_write_text(work / "dataset.json", json.dumps(manifest, indent=1) + "\n")
    return work / "dataset.json"


def stage_swaps(
    data_dir: str | Path, work: Path, models: dict[str, Path] | None, log: Log | None = None
) -> Path:
    """Swap videos of the designated pairs and their faces (``swap_table.npz``; resumable)."""
    from doppelab.detect.swapfakes import build_table, make_videos, save_swap_table

    path = work / "swap_table.npz"
    if not path.exists():
        say = (lambda m: log({"swaps": m})) if log else None
        videos = make_videos(data_dir, work / "swaps", models, log=say)
        save_swap_table(build_table(work / "swaps", videos), path)
        write_manifest(work, work / "train_table.npz", work / "dev_table.npz")
    return path


def _swaps(work: Path) -> SwapTable | None:
    path = work / "swap_table.npz"
    return read_swap_table(path) if path.exists() else None


def stage_blend(work: Path, cfg: TrainConfig, log: Log | None = None) -> Path:
    """Train BlendNet on the train table and the swaps (skipped when ``blend/last.pt`` exists)."""
    out = work / "blend"
    if not (out / "last.pt").exists():
        table = read_table(work / "train_table.npz")
        result = train(table, out, cfg, log, swaps=_swaps(work))
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return out / "best.pt"


def stage_export(work: Path) -> Path:
    """ONNX export and fp16 state of the best BlendNet into ``model/``."""
    import torch

    from doppelab.detect.blend import export_onnx, pack_state
    from doppelab.detect.train_blend import load_checkpoint

    out = ensure_dir(work / "model")
    if not (out / shipped.BLEND_ONNX).exists():
        model, _ = load_checkpoint(work / "blend" / "best.pt")
        torch.set_num_threads(1)
        export_onnx(model, out / shipped.BLEND_ONNX)
        atomic_write_npz(out / shipped.BLEND_STATE, **pack_state(model))
    return out


def _as_table(crops: npt.NDArray[np.uint8], landmarks: npt.NDArray) -> FaceTable:
    n = len(crops)
    return FaceTable(
        crops=crops,
        landmarks=landmarks,
        identity=np.full(n, ""),
        source=np.full(n, ""),
        media=np.full(n, ""),
        holdout=np.zeros(n, bool),
        dev=np.zeros(n, bool),
    )


def pair_set(
    table: FaceTable, seed: int, rounds: int = 1, aug: bool = True, acfg: AugmentConfig = NO_FLIP
) -> tuple[FaceTable, npt.NDArray]:
    """Real faces and self-blended fakes of ``table`` (augmented with ``acfg``, which never
    flips, so each fake's landmarks are its real's; reproducible) as a table of crops +
    landmarks, and labels.
    Row order: per round, per :data:`PAIR_CHUNK` rows of ``table``, their reals then fakes."""
    rng = np.random.default_rng(seed)
    crops, lms, labels = [], [], []
    idx = np.arange(len(table))
    for _ in range(rounds):
        for s in range(0, len(idx), PAIR_CHUNK):
            part = idx[s : s + PAIR_CHUNK]
            images, y, _ = make_pairs(table, part, rng, aug=aug, acfg=acfg)
            crops.append(images)
            lms.append(np.concatenate([table.landmarks[part]] * 2))
            labels.append(y)
    return _as_table(np.concatenate(crops), np.concatenate(lms)), np.concatenate(labels)


def swap_pair_set(
    swaps: SwapTable, held: bool, seed: int, aug: bool = True, acfg: AugmentConfig = NO_FLIP
) -> tuple[FaceTable, npt.NDArray]:
    """Marked reals and as many swaps of the held-out (or the training) pairs, degraded (unless
    ``aug`` is False) but never flipped, as a table + labels (empty when that part has none)."""
    sub, idx, crops, labels = swap_pair_draw(swaps, held, seed, aug, acfg)
    return _as_table(crops, sub.landmarks[idx]), labels


def swap_pair_draw(
    swaps: SwapTable, held: bool, seed: int, aug: bool = True, acfg: AugmentConfig = NO_FLIP
) -> tuple[SwapTable, npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray]:
    """The draw behind :func:`swap_pair_set`: the held-out (or training) part of ``swaps``, the
    rows drawn from it (the same for any ``aug``: rows are drawn before anything is degraded),
    their images and labels."""
    sub = swaps.subset(swaps.holdout == held)
    n = min(int((sub.label == 0).sum()), int((sub.label == 1).sum()))
    rng = np.random.default_rng(seed)
    idx, crops, labels = swap_draw(sub, n, rng, aug=aug, replace=False, acfg=acfg)
    return sub, idx, crops, labels


def join_pairs(
    a: tuple[FaceTable, npt.NDArray], b: tuple[FaceTable, npt.NDArray] | None
) -> tuple[FaceTable, npt.NDArray]:
    """Two ``(faces, labels)`` sets of :func:`pair_set` / :func:`swap_pair_set` as one, ``a``
    first; ``a`` itself when ``b`` is None or empty."""
    if b is None or len(b[1]) == 0:
        return a
    crops = np.concatenate([a[0].crops, b[0].crops])
    lms = np.concatenate([a[0].landmarks, b[0].landmarks])
    return _as_table(crops, lms), np.concatenate([a[1], b[1]])


def frequency_fit_set(table: FaceTable, swaps: SwapTable | None) -> tuple[FaceTable, npt.NDArray]:
    """The frequency classifier's training faces: non-holdout train reals and self-blends, two
    degraded rounds and one undegraded round (the undegraded round was chosen on held-out
    identities: detect's input is a video frame, not a re-degraded crop, and the degradations
    wash out the grain and colour steps the features measure), and when made the training
    pairs' swaps against their marked reals, degraded and undegraded."""
    fit = table.subset(~table.holdout)
    degraded = join_pairs(
        pair_set(fit, seed=11, rounds=2),
        swap_pair_set(swaps, False, 14) if swaps is not None else None,
    )
    clean = join_pairs(
        pair_set(fit, seed=11, rounds=1, aug=False),
        swap_pair_set(swaps, False, 14, aug=False) if swaps is not None else None,
    )
    return join_pairs(degraded, clean)


def stage_frequency(work: Path, log: Log | None = None) -> dict[str, Any]:
    """Fit the frequency classifier on non-holdout train pairs (:func:`frequency_fit_set`);
    metrics on holdout, the held-out pair's swaps and dev."""
    from doppelab.detect.frequency import FEATURES_VERSION, features, fit_mlp

    out = ensure_dir(work / "model")
    table = read_table(work / "train_table.npz")
    swaps = _swaps(work)
    fit_pairs, y = frequency_fit_set(table, swaps)
    clf = fit_mlp(features(fit_pairs.crops, fit_pairs.landmarks), y)
    version = np.array([FEATURES_VERSION])
    atomic_write_npz(out / shipped.FREQUENCY, **clf.to_arrays(), version=version)
    metrics = {}
    for name, sub, seed in (
        ("holdout", table.subset(table.holdout), 12),
        ("dev", read_table(work / "dev_table.npz"), 13),
    ):
        pairs, yy = pair_set(sub, seed=seed)
        metrics[name] = summary(yy, clf.logits(features(pairs.crops, pairs.landmarks)), 0.0)
    if swaps is not None:
        pairs, yy = swap_pair_set(swaps, True, 15)
        logits = clf.logits(features(pairs.crops, pairs.landmarks))
        metrics["holdout_swap"] = summary(yy, logits, 0.0)  # logits: the threshold is 0
    if log:
        log({"frequency": metrics})
    return metrics


def clip_series(path: str | Path) -> Any:
    """The main track of a clip as a :class:`~doppelab.detect.base.TrackSeries`, exactly as
    ``detect`` builds it with its default settings (landmarks on every frame, identity
    embeddings on a few of the sampled frames)."""
    from doppelab.detect.predict import Detect, DetectConfig

    return Detect(DetectConfig(detectors=())).series(path)


def stage_temporal(data_dir: str | Path, work: Path, log: Log | None = None) -> dict[str, Any]:
    """Real-clip statistics of the temporal measurements over every train clip."""
    from doppelab.detect.temporal import fit_stats, measure

    out = ensure_dir(work / "model")
    cache = work / "temporal_measurements.json"
    done: dict[str, dict[str, float]] = json.loads(cache.read_text()) if cache.exists() else {}
    clips = [i for i in list_items(data_dir, "train") if i.kind == "clip"]
    for item in clips:
        if item.path.name in done:
            continue
        series = clip_series(item.path)
        done[item.path.name] = measure(series) if series is not None else {}
        atomic_write_text(cache, json.dumps(done, indent=1))
    # the held-out clips stay out of the statistics: the video rule is fitted on them
    names = {i.path.name: i.identity for i in clips}
    used = {k: m for k, m in done.items() if m and not is_holdout(names.get(k, k))}
    stats = fit_stats(list(used.values()))
    stats["clips"] = sorted(used)
    atomic_write_text(out / shipped.TEMPORAL, json.dumps(stats, indent=2) + "\n")
    if log:
        log({"temporal": {"clips": len(used), "q95": stats["q95"]}})
    return stats


def face_logits(model_dir: Path, pairs: FaceTable) -> dict[str, npt.NDArray]:
    """Blend and frequency logits of ``pairs`` with the detectors in ``model_dir``."""
    from doppelab.detect.base import FaceBatch
    from doppelab.detect.blend import BlendDetector
    from doppelab.detect.frequency_detector import FrequencyDetector

    batch = FaceBatch(crops=pairs.crops, landmarks=pairs.landmarks)
    blend = BlendDetector(onnx_path=model_dir / shipped.BLEND_ONNX, threads=1)
    freq = FrequencyDetector(path=model_dir / shipped.FREQUENCY)
    return {"blend": blend.forward(batch)["logits"], "frequency": freq.forward(batch)["logits"]}


def stage_fusion(work: Path, log: Log | None = None) -> dict[str, Any]:
    """Fit the fusion on the holdout part of train; face-level metrics of every detector on
    holdout and on dev (self-blended fakes of unseen people)."""
    from doppelab.detect.fusion import fit_fusion

    model = work / "model"
    table = read_table(work / "train_table.npz")
    swaps = _swaps(work)
    hold, y = join_pairs(
        pair_set(table.subset(table.holdout), seed=21, rounds=2),
        swap_pair_set(swaps, True, 25) if swaps is not None else None,
    )
    logits = face_logits(model, hold)
    fusion = fit_fusion(
        logits,
        y,
        fitted_on={
            "data": "train holdout identities: real vs self-blended (2 rounds, augmented)"
            + (", and the held-out pair's marked reals vs its swaps" if swaps is not None else ""),
            "faces": len(y),
        },
    )
    atomic_write_text(model / shipped.FUSION, json.dumps(fusion.to_dict(), indent=2) + "\n")
    metrics: dict[str, Any] = {}
    dev = read_table(work / "dev_table.npz")
    for name, sub, seed, aug in (
        ("holdout", table.subset(table.holdout), 22, True),
        ("dev", dev, 23, True),
        ("dev_clean", dev, 24, False),
    ):
        pairs, yy = pair_set(sub, seed=seed, aug=aug)
        lg = face_logits(model, pairs)
        lg["fused"] = fusion.face_logits(lg)
        metrics[name] = {k: summary(yy, v, 0.0) for k, v in lg.items()}
    if swaps is not None:
        pairs, yy = swap_pair_set(swaps, True, 26)
        lg = face_logits(model, pairs)
        lg["fused"] = fusion.face_logits(lg)
        metrics["holdout_swap"] = {k: summary(yy, v, 0.0) for k, v in lg.items()}
    atomic_write_text(model / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if log:
        log({"fusion": fusion.to_dict(), "metrics": metrics})
    return metrics


def stage_video(data_dir: str | Path, work: Path, log: Log | None = None) -> dict[str, Any]:
    """Fit the video rule's temporal weight and cap on held-out train videos
    (:mod:`~doppelab.detect.calibrate_video`) and write them into ``fusion.json``."""
    from dataclasses import replace

    from doppelab.detect.calibrate_video import fit_video_rule
    from doppelab.detect.fusion import Fusion

    model = work / "model"
    result = fit_video_rule(data_dir, work, model, log)
    best = result["chosen"]
    fusion = replace(
        Fusion.load(model / shipped.FUSION),
        temporal_weight=float(best["weight"]),
        temporal_cap=float(best["cap"]),
        note="temporal_weight and temporal_cap chosen by video log-loss on held-out train "
        "identities only (video_calibration.json); dev was not used",
    )
    atomic_write_text(model / shipped.FUSION, json.dumps(fusion.to_dict(), indent=2) + "\n")
    return result


def run_recipe(
    data_dir: str | Path,
    work_dir: str | Path,
    cfg: TrainConfig,
    log: Log | None = None,
    swap_models: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """All stages in order; returns the paths made. ``swap_models``: trained autoencoder
    folders of the designated pairs (``{"pair-1": dir}``); mesh swaps are always made."""
    work = ensure_dir(work_dir)
    train_table, dev_table = stage_tables(data_dir, work)
    stage_swaps(data_dir, work, swap_models, log)
    best = stage_blend(work, cfg, log)
    model = stage_export(work)
    stage_frequency(work, log)
    stage_temporal(data_dir, work, log)
    stage_fusion(work, log)
    stage_video(data_dir, work, log)
    write_model_card(data_dir, work)
    return {
        "train_table": str(train_table),
        "dev_table": str(dev_table),
        "blend": str(best),
        "model": str(model),
    }
