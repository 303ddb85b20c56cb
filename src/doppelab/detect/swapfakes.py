"""Training fakes from the project's own creation methods (mesh and autoencoder swaps).

Only the designated swap pairs of the shared data set may be swapped (``data/README.md``:
pair-1 = lp_d18 <-> lp_d19, pair-2 = lp_d3 <-> lp_d6), in both directions. Every swap output is
labelled by the creation stage (invisible watermark, C2PA, registry entry; there is no opt-out),
so a detector trained on them could learn the watermark instead of the swap. The counter-measure
here: each pair clip also gets a *marked real* control, the unchanged clip with the same
watermark embedder (:func:`doppelab.provenance.watermark.embed`) and the same H.264 settings
(CRF 18) as ``label_video``, so both classes carry the mark and it predicts nothing.

Faces are taken from the videos exactly as ``detect`` sees them (tracked, then
:func:`~doppelab.detect.data.net_face`: aligned with :data:`~doppelab.detect.data.CROP`, resized
to the network size) on every ``every``-th frame, and
stored in a :class:`SwapTable` with the label, the method, the target and source person and a
``holdout`` flag: every video of a pair with a held-out train identity
(:func:`~doppelab.detect.data.is_holdout`) is held out, so those swaps measure an unseen pair.
``manifest.json`` lists every video (label, method, target, source, settings, watermark);
:func:`read_manifest` is its one reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doppelab.core.errors import InputError
from doppelab.core.media import iter_frames, probe, write_image
from doppelab.core.media_write import VideoWriter
from doppelab.core.storage import atomic_write_text, ensure_dir
from doppelab.detect.data import Rows, is_holdout, net_face, read_arrays, save_arrays
from doppelab.extract.landmarks import FaceTracker, TrackerConfig

# the only pairs that may be swapped (shared data README), as (a, b) of each autoencoder model
PAIRS = {"pair-1": ("lp_d18", "lp_d19"), "pair-2": ("lp_d3", "lp_d6")}
# post-processing variants (SwapConfig fields): the default and two other looks of the seam
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "hist-poisson": {"colour": "histogram", "blend": "poisson"},
    "soft-sharp": {"feather": 0.06, "sharpen": 0.5, "smooth": 0.2},
}
Log = Callable[[str], None]
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Video:
    """One generated video of the manifest."""

    path: str
    label: int  # 1 swap, 0 marked real control
    method: str  # "mesh", "autoencoder" or "real"
    target: str
    source: str
    variant: str
    watermark: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapManifest:
    """``manifest.json`` of a swap folder: the pairs, the post-processing variants, the videos."""

    pairs: dict[str, tuple[str, str]]
    variants: dict[str, dict[str, Any]]
    videos: list[Video]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as written by :func:`make_videos`)."""
        return {
            "pairs": dict(self.pairs),
            "variants": dict(self.variants),
            "videos": [asdict(v) for v in self.videos],
        }


def work_manifest(work: str | Path) -> SwapManifest | None:
    """The manifest of the ``swaps/`` folder of a ``detect-train`` work dir, or None when no
    swaps were made there (no ``swaps/manifest.json``)."""
    folder = Path(work) / "swaps"
    return read_manifest(folder) if (folder / MANIFEST).exists() else None


def read_manifest(folder: str | Path) -> SwapManifest:
    """The :class:`SwapManifest` of a swap folder made by :func:`make_videos`.

    Raises:
        InputError: no ``manifest.json`` in ``folder``, or one that is not a swap manifest.
    """
    path = Path(folder) / MANIFEST
    try:
        raw = json.loads(path.read_text())
        return SwapManifest(
            pairs={k: (str(a), str(b)) for k, (a, b) in raw["pairs"].items()},
            variants=dict(raw["variants"]),
            videos=[Video(**v) for v in raw["videos"]],
        )
    except OSError as exc:
        raise InputError(f"cannot read the swap manifest {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} is not a swap manifest ({exc})") from None


def directions() -> list[tuple[str, str, str, str]]:
    """(pair, target, source, autoencoder side of the source) for both directions of each pair."""
    out = []
    for pair, (a, b) in PAIRS.items():
        out += [(pair, b, a, "a"), (pair, a, b, "b")]
    return out


def pair_held_out(person: str) -> bool:
    """True when ``person``'s pair has a held-out train identity: every video of that pair
    (both swap directions and both marked reals) is then kept for validation."""
    return any(person in p and any(is_holdout(x) for x in p) for p in PAIRS.values())


def marked_real(src: str | Path, dst: str | Path, seed: int) -> Path:
    """``src`` re-encoded with a watermark of a random payload, as ``label_video`` writes swaps
    (same embedder, H.264 CRF 18): the real control that carries the mark."""
    from doppelab.provenance import watermark

    info = probe(src)
    payload = int(np.random.default_rng(seed).integers(1, 2**31))
    w, h = info.width - info.width % 2, info.height - info.height % 2
    with VideoWriter(dst, fps=info.fps or 25.0, width=w, height=h, crf=18) as writer:
        for frame in iter_frames(src):
            writer.write(watermark.embed(np.ascontiguousarray(frame.image[:h, :w]), payload))
    return Path(dst)


def _method(name: str, photo: Path, model: Path | None, side: str) -> Any:
    from doppelab.swap.methods import create_method

    if name == "mesh":
        return create_method("mesh", source=photo, shape=0.8)
    return create_method("autoencoder", model=model, source=side)


def _swap(method: Any, target: Path, out: Path, variant: str, home: Path) -> None:
    from doppelab.swap.convert import SwapConfig, swap_file

    cfg = SwapConfig(**VARIANTS[variant])
    swap_file(
        method,
        target,
        out,
        cfg,
        keys_dir=home / "keys",
        registry_path=home / "registry.sqlite",
    )


def _real_control(clip: Path, out: Path, target: str, seed: int) -> Video:
    """The marked real control of ``target`` (:func:`marked_real`; made once)."""
    real = out / f"{target}_marked.mp4"
    if not real.exists():
        marked_real(clip, real, seed=seed)
    return Video(
        path=real.name, label=0, method="real", target=target, source=target, variant="watermark"
    )


def _source_photo(clip: Path, photo: Path) -> Path:
    """The first frame of the source's clip as a photo (the mesh method's source; made once)."""
    if not photo.exists():
        write_image(photo, next(iter_frames(clip)).image)
    return photo


def make_videos(
    data_dir: str | Path,
    out_dir: str | Path,
    models: dict[str, Path] | None = None,
    variants: tuple[str, ...] = ("default", "hist-poisson"),
    log: Log | None = None,
) -> list[Video]:
    """Mesh (and, for pairs in ``models``, autoencoder) swaps of both directions of every
    designated pair, plus a marked real control of each pair clip; resumable; writes
    ``manifest.json``. Keys and registry live in ``out_dir/home`` (a throw-away lab)."""
    from doppelab.provenance.keys import init_keys

    out, clips = ensure_dir(out_dir), Path(data_dir) / "clips"
    home = ensure_dir(out / "home")
    if not (home / "keys").exists():
        init_keys(home / "keys")
    videos: list[Video] = []
    for pair, target, source, side in directions():
        tpath = clips / f"{target}.mp4"
        videos.append(_real_control(tpath, out, target, seed=len(videos)))
        photo = _source_photo(clips / f"{source}.mp4", out / f"{source}_frame.png")
        kinds = ["mesh"] + (["autoencoder"] if models and pair in models else [])
        for name in kinds:
            for variant in variants:
                fake = out / f"{target}_{name}_from_{source}_{variant}.mp4"
                if not fake.exists():
                    if log:
                        log(f"swap {fake.name}")
                    model = (models or {}).get(pair)
                    _swap(_method(name, photo, model, side), tpath, fake, variant, home)
                videos.append(
                    Video(
                        path=fake.name,
                        label=1,
                        method=name,
                        target=target,
                        source=source,
                        variant=variant,
                    )
                )
    manifest = SwapManifest(pairs=PAIRS, variants=VARIANTS, videos=videos)
    atomic_write_text(out / MANIFEST, json.dumps(manifest.to_dict(), indent=1) + "\n")
    return videos


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapTable(Rows):
    """Faces of the generated videos at network size.

    Shape: ``crops`` (N, 128, 128, 3) uint8; ``landmarks`` (N, 478, 2) float32; ``label`` (N,)
    int; ``method``/``target``/``source``/``video`` (N,) str; ``holdout`` (N,) bool.
    """

    crops: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]
    label: npt.NDArray[np.int64]
    method: npt.NDArray[np.str_]
    target: npt.NDArray[np.str_]
    source: npt.NDArray[np.str_]
    video: npt.NDArray[np.str_]
    holdout: npt.NDArray[np.bool_]


def video_faces(
    path: str | Path, every: int = 2
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """The largest face of every ``every``-th frame, aligned as ``detect`` does:
    crops ``(n, 128, 128, 3)`` and landmarks ``(n, 478, 2)`` in crop px."""
    crops, lms = [], []
    with FaceTracker(TrackerConfig(max_faces=1, min_face=24.0)) as tracker:
        for frame in iter_frames(path):
            found = tracker.process(frame.image)
            if frame.ref.index % every or not found:
                continue
            face = max(found, key=lambda f: f.bbox.size)
            crop, lm = net_face(frame.image, face.landmarks)
            crops.append(crop)
            lms.append(lm)
    if not crops:
        return np.zeros((0, 128, 128, 3), np.uint8), np.zeros((0, 478, 2), np.float32)
    return np.stack(crops), np.stack(lms)


def build_table(out_dir: str | Path, videos: list[Video], every: int = 2) -> SwapTable:
    """Faces of every video of the manifest (see :class:`SwapTable`)."""
    parts: dict[str, list[Any]] = {k: [] for k in SwapTable.__dataclass_fields__}
    for v in videos:
        crops, lms = video_faces(Path(out_dir) / v.path, every)
        n = len(crops)
        parts["crops"].append(crops)
        parts["landmarks"].append(lms)
        parts["label"].append(np.full(n, v.label, np.int64))
        for key, val in (
            ("method", v.method),
            ("target", v.target),
            ("source", v.source),
            ("video", v.path),
        ):
            parts[key].append(np.full(n, val, dtype="U64"))
        parts["holdout"].append(np.full(n, pair_held_out(v.target), bool))
    return SwapTable(**{k: np.concatenate(v) for k, v in parts.items()})


def save_swap_table(table: SwapTable, path: str | Path) -> None:
    save_arrays(table, path)


def read_swap_table(path: str | Path) -> SwapTable:
    return read_arrays(SwapTable, path)
