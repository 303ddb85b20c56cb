"""Benchmark of ``doppelab extract`` on the shared talking-head clips.

For every clip of ``DATA/clips.csv`` (each in a fresh process, so peak memory is per clip):

* ``found``: frames with a face / frames;
* ``fps_e2e``: frames / wall time of the whole ``extract()`` call (model start-up included);
  ``fps_steady``: frames per second between the first and last processed frame (start-up
  excluded); ``fps_decode``: decode-only fps of the same clip in the same process; their ratio;
* ``jitter_px``: landmark stability on the aligned 256 px crop, as the mean absolute second
  difference over time of the expression-stable landmarks (|x[t] - (x[t-1] + x[t+1]) / 2|,
  in crop pixels): smooth motion (head turns, expressions) scores ~0, frame-to-frame noise
  does not; ``motion_px``: plain mean frame-to-frame motion of the same points on the crop;
* ``peak_rss_mb``: peak resident memory of the process;
* ``loader_faces_per_s``: random 32-face batches (256 px crops, masks, parts, landmarks, ...)
  read back from the memory-mapped FaceSet.

Identity: each clip's main person (largest cluster) must hold >= 95% of its faces, and
clustering the clips' main-person embeddings together must give one cluster per clip.

Usage: python bench/extract.py [--data-dir ../shared/data] [--limit N]
       [--out bench/results/extract.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np


def _spread_embeddings(path: str, idx: np.ndarray, landmarks: np.ndarray, n: int = 8) -> np.ndarray:
    """SFace embeddings of ``n`` faces spread evenly over the clip (for within-clip spread)."""
    from doppelab.core.media import iter_frames
    from doppelab.extract.identity import IdentityEmbedder

    picks = dict(
        zip(
            idx[np.linspace(0, len(idx) - 1, n).round().astype(int)].tolist(),
            np.linspace(0, len(idx) - 1, n).round().astype(int).tolist(),
            strict=True,
        )
    )
    emb = IdentityEmbedder()
    out = [
        emb.embed(fr.image, landmarks[picks[fr.ref.index]])
        for fr in iter_frames(path)
        if fr.ref.index in picks
    ]
    return np.stack(out)


def _clip_job(path: str) -> dict[str, Any]:
    from doppelab.core.geometry import transform_points
    from doppelab.core.media import iter_frames, probe
    from doppelab.extract.faceset import FaceSet
    from doppelab.extract.pipeline import ExtractConfig, extract
    from doppelab.extract.topology import STABLE_POINTS

    info = probe(path)
    t = time.perf_counter()
    n_dec = sum(1 for _ in iter_frames(path))
    fps_decode = n_dec / (time.perf_counter() - t)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = extract(
            [path],
            Path(tmp) / "x.faceset",
            ExtractConfig(size=256, max_faces=1),
            progress=lambda n: stamps.append(time.perf_counter()),
        )
        wall = time.perf_counter() - t0
        fs = FaceSet.open(Path(tmp) / "x.faceset")
        frames = fs.column("frames")
        lm = np.stack(
            [
                transform_points(m, p)[list(STABLE_POINTS), :2]
                for m, p in zip(fs.column("crop_from_frame"), fs.column("landmarks"), strict=True)
            ]
        )
        idx = frames["index"]
        samples = _spread_embeddings(path, idx, fs.column("landmarks"))
        t1, n_loaded = time.perf_counter(), 0
        for _, batch in zip(range(20), fs.batches(32, seed=0), strict=False):
            n_loaded += len(batch["crops"])
        loader = n_loaded / (time.perf_counter() - t1)
        people, counts = np.unique(fs.people, return_counts=True)
        main = people[np.argmax(counts)]
        emb = fs.embeddings[fs.people == main].mean(axis=0)
    consecutive = np.diff(idx) == 1
    motion = np.linalg.norm(np.diff(lm, axis=0), axis=2).mean(axis=1)[consecutive]
    triple = consecutive[:-1] & consecutive[1:]
    second = np.linalg.norm(lm[1:-1] - (lm[:-2] + lm[2:]) / 2, axis=2).mean(axis=1)[triple]
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else float("nan")
    fps_e2e = res.frames / wall
    return {
        "clip": Path(path).name,
        "width": info.width,
        "height": info.height,
        "frames": res.frames,
        "frames_with_face": res.frames_with_face,
        "found": res.frames_with_face / max(res.frames, 1),
        "fps_e2e": fps_e2e,
        "fps_steady": steady,
        "fps_decode": fps_decode,
        "decode_over_e2e": fps_decode / fps_e2e,
        "jitter_px": float(second.mean()) if len(second) else None,
        "motion_px": float(motion.mean()) if len(motion) else None,
        "people": len(people),
        "main_share": float(counts.max() / counts.sum()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loader_faces_per_s": loader,
        "embedding": (emb / np.linalg.norm(emb)).tolist(),
        "within_clip_min_similarity": float((samples @ (emb / np.linalg.norm(emb))).min()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips (0 = all)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/extract.json"))
    args = ap.parse_args()
    from doppelab.core.storage import atomic_write_text
    from doppelab.extract.identity import CLUSTER_SIMILARITY, cluster_people

    with open(args.data_dir / "clips.csv") as fh:
        rows = list(csv.DictReader(fh))
    if args.limit:
        rows = rows[: args.limit]
    results = []
    ctx = get_context("spawn")
    for row in rows:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            r = pool.submit(_clip_job, str(args.data_dir / row["file"])).result()
        results.append(r)
        print(
            f"{r['clip'][:34]:34} {r['width']}x{r['height']} found {r['found']:.3f} "
            f"e2e {r['fps_e2e']:6.1f} steady {r['fps_steady']:6.1f} decode {r['fps_decode']:6.0f} "
            f"jitter {r['jitter_px'] or 0:.3f}px people {r['people']} rss {r['peak_rss_mb']:.0f}MB",
            flush=True,
        )
    emb = np.array([r.pop("embedding") for r in results], np.float32)
    clusters = cluster_people(emb)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -1)
    sq = [r for r in results if r["width"] == r["height"] == 512]
    summary = {
        "clips": len(results),
        "min_found": min(r["found"] for r in results),
        "clips_under_99pct": [r["clip"] for r in results if r["found"] < 0.99],
        "mean_fps_e2e_512": float(np.mean([r["fps_e2e"] for r in sq])) if sq else None,
        "mean_fps_steady_512": float(np.mean([r["fps_steady"] for r in sq])) if sq else None,
        "mean_fps_decode_512": float(np.mean([r["fps_decode"] for r in sq])) if sq else None,
        "mean_jitter_px": float(np.mean([r["jitter_px"] for r in results if r["jitter_px"]])),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "mean_loader_faces_per_s": float(np.mean([r["loader_faces_per_s"] for r in results])),
        "identity_clusters": int(clusters.max() + 1),
        "identity_one_cluster_per_clip": bool(len(set(clusters.tolist())) == len(results)),
        "identity_main_share_min": min(r["main_share"] for r in results),
        "identity_max_cross_clip_similarity": float(sims.max()),
        "identity_min_within_clip_similarity": min(
            r["within_clip_min_similarity"] for r in results
        ),
        "identity_threshold": CLUSTER_SIMILARITY,
    }
    out = {
        "bench": "extract",
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "python": sys.version.split()[0],
        "summary": summary,
        "clips": results,
    }
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
