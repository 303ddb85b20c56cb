"""Finishing a FaceSet: per-track identities, people clusters, the reference filter, the index."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.extract.faceset import EMBED_DIM, read_json, write_index
from doppelab.extract.identity import cluster_people, mean_embedding


def _load_rows(
    root: Path, journals: list[dict[str, Any]]
) -> tuple[list[str], list[tuple[int, int, bytes, int]], npt.NDArray[Any]]:
    """Shard names, one (shard, row, media, track) per face, and the sampled embeddings."""
    shards: list[str] = []
    rows: list[tuple[int, int, bytes, int]] = []
    samples: list[npt.NDArray[Any]] = []
    for job in journals:
        for name in job["shards"]:
            frames = np.load(root / "shards" / name / "frames.npy")
            samples.append(np.load(root / "shards" / name / "samples.npy"))
            k = len(shards)
            shards.append(name)
            rows.extend((k, r, f["media"], int(f["track"])) for r, f in enumerate(frames))
    emb = np.concatenate(samples) if samples else np.zeros((0, EMBED_DIM), np.float32)
    return shards, rows, emb


def _track_embeddings(
    keys: list[tuple[bytes, int]], samples: npt.NDArray[Any]
) -> dict[tuple[bytes, int], npt.NDArray[Any]]:
    by_track: dict[tuple[bytes, int], list[npt.NDArray[Any]]] = {}
    for key, vec in zip(keys, samples, strict=True):
        if not np.isnan(vec[0]):
            by_track.setdefault(key, []).append(vec)
    return {k: mean_embedding(np.stack(v)) for k, v in by_track.items()}


def finalize(
    root: Path,
    config: dict[str, Any],
    reference: npt.NDArray[np.float32] | None,
    threshold: float,
    extra: dict[str, Any],
) -> tuple[int, int]:
    """Write the index of every journaled face; returns (faces kept, people)."""
    journals = sorted(
        (read_json(p) for p in (root / "journal").glob("*.json")), key=lambda j: j["path"]
    )
    shards, rows, samples = _load_rows(root, journals)
    keys = [(m, t) for _, _, m, t in rows]
    tracks = _track_embeddings(keys, samples)
    if reference is not None:
        tracks = {k: v for k, v in tracks.items() if float(v @ reference) >= threshold}
    order = list(tracks)
    people = (
        cluster_people(np.stack([tracks[k] for k in order])) if order else np.zeros(0, np.int64)
    )
    person_of = dict(zip(order, people.tolist(), strict=True))
    kept = [i for i, key in enumerate(keys) if key in tracks]
    index = np.array([(rows[i][0], rows[i][1]) for i in kept], dtype=np.int64).reshape(-1, 2)
    emb = (
        np.stack([tracks[keys[i]] for i in kept]) if kept else np.zeros((0, EMBED_DIM), np.float32)
    )
    pid = np.array([person_of[keys[i]] for i in kept], dtype=np.int64)
    n_people = len(set(person_of.values()))
    sources = [
        {
            "path": j["path"],
            "media_id": j["media_id"],
            "kind": j["kind"],
            "done": j["done"],
            **j["stats"],
        }
        for j in journals
    ]
    meta = {
        "config": config,
        "shards": shards,
        "faces": len(kept),
        "people": n_people,
        "tracks": len(order),
        "sources": sources,
        "reference_filter": reference is not None,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    write_index(root, index, emb.astype(np.float32), pid, meta)
    return len(kept), n_people
