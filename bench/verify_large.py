"""Benchmark ``doppelab verify`` on very large images, and check that decoding did not get worse.

Usage::

    python bench/verify_large.py [--before-ref 34e78bc] [--out bench/results/verify_large.json]
                                 [--skip-speed] [--skip-quality]

Speed: generated 8000x8000 and 6000x4000 photo-like images (scikit-image's astronaut and coffee
upscaled, plus Gaussian noise sigma 3), unmarked and marked at full size with
``watermark.embed``, saved as JPEG q90 and PNG; each ``python -m doppelab verify --json FILE``
runs in its own process under GNU ``/usr/bin/time`` (wall time and peak RSS), for this tree's
``src`` and for ``--before-ref`` (exported with ``git archive`` into a temporary folder), with an
empty registry.

Quality: the watermark decoder of ``--before-ref`` (its ``provenance/watermark.py`` loaded as a
module of its own) and of this tree on the same marked images, 600 px to 8000 px, square and not,
under the attacks the watermark claims to survive (none, JPEG q50, 0.5x, 10 % crop, horizontal
flip), plus unmarked images (no claim allowed); and the PDQ distance between the old (full-size)
and the new (reduced) query hashes of the large images.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pdqhash
from skimage import data as skdata

from doppelab.provenance import fingerprint, watermark

Image = np.ndarray
ROOT = Path(__file__).resolve().parents[1]
SPEED_SIZES = ((8000, 8000), (6000, 4000))
QUALITY_SIZES = ((600, 600), (1500, 1500), (3000, 3000), (8000, 8000), (6000, 4000),
                 (1200, 2600))


def photo(width: int, height: int, seed: int) -> Image:
    """A photo-like RGB image: a scikit-image photo resized to ``width x height`` plus noise."""
    src = (skdata.astronaut, skdata.coffee, skdata.chelsea, skdata.rocket)[seed % 4]()
    rng = np.random.default_rng(seed)
    img = cv2.resize(src, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.normal(0, 3, (height, width)).astype(np.int16)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(img: Image, q: int) -> Image:
    _, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def crop10(img: Image) -> Image:
    h, w = img.shape[:2]
    ch, cw = round(h * 0.9), round(w * 0.9)
    y0, x0 = (h - ch) // 3, (w - cw) // 4  # off-centre: the tile phase shifts on both axes
    return np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw])


ATTACKS: dict[str, Callable[[Image], Image]] = {
    "none": lambda x: x,
    "jpeg50": lambda x: jpeg(x, 50),
    "down0.5": lambda x: cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2),
                                    interpolation=cv2.INTER_AREA),
    "crop10": crop10,
    "flip": lambda x: np.ascontiguousarray(x[:, ::-1]),
}


def export_ref(ref: str, dest: Path) -> Path:
    """``git archive REF src`` unpacked under ``dest``; returns the ``src`` folder."""
    tar_path = dest / "src.tar"
    with open(tar_path, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], stdout=fh, check=True)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_verify(src: Path, file: Path, home: Path) -> dict[str, Any]:
    """One ``doppelab verify --json`` in a fresh process: wall s, peak RSS MB, the verdict.

    The peak comes from GNU ``/usr/bin/time``: a child forked straight from this (large)
    process would inherit its high-water mark in ``ru_maxrss``.
    """
    env = dict(os.environ, PYTHONPATH=str(src), DOPPELAB_HOME=str(home))
    env.pop("DOPPELAB_REGISTRY", None)
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "time.txt"
        cmd = ["/usr/bin/time", "-f", "%e %M", "-o", str(stats), sys.executable, "-m",
               "doppelab", "verify", "--json", str(file)]
        proc = subprocess.run(cmd, env=env, capture_output=True, check=False)
        wall, rss_kb = stats.read_text().split()[-2:]
    verdict: dict[str, Any] = json.loads(proc.stdout) if proc.returncode == 0 else \
        {"error": proc.stderr.decode(errors="replace")[-400:]}
    wm = verdict.get("watermark", {})
    return {"wall_s": float(wall), "peak_rss_mb": round(int(rss_kb) / 1024),
            "rc": proc.returncode, "found": wm.get("found"), "payload_id": wm.get("payload_id"),
            "summary": verdict.get("summary", verdict.get("error"))}


def bench_speed(before_src: Path, work: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    home = work / "home"
    home.mkdir()
    for i, (w, h) in enumerate(SPEED_SIZES):
        base = photo(w, h, i)
        for marked in (False, True):
            img = watermark.embed(base, 0x5EED0000 + i) if marked else base
            bgr = np.ascontiguousarray(img[..., ::-1])
            for ext, params in ((".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]),
                                (".png", [cv2.IMWRITE_PNG_COMPRESSION, 1])):
                file = work / f"{'marked' if marked else 'unmarked'}_{w}x{h}{ext}"
                cv2.imwrite(str(file), bgr, params)
                for label, src in (("before", before_src), ("after", ROOT / "src")):
                    row = {"image": file.name, "code": label, **run_verify(src, file, home)}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                file.unlink()
            del bgr
    return rows


def _row(r: watermark.WatermarkResult, pid: int | None) -> dict[str, Any]:
    return {"found": r.found, "correct": r.found and r.payload_id == pid,
            "agree": r.bit_agreement, "z": r.sync_score, "claim": r.found}


def bench_quality(old: ModuleType) -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    for i, (w, h) in enumerate(QUALITY_SIZES):
        base = photo(w, h, 10 + i)
        pid = 0x0BAD0000 + i
        marked = watermark.embed(base, pid)
        for name, attack in ATTACKS.items():
            img = attack(marked)
            t0 = time.perf_counter()
            before = old.detect(img)
            t1 = time.perf_counter()
            after = watermark.detect(img)
            t2 = time.perf_counter()
            row = {"size": f"{w}x{h}", "attack": name, "before": _row(before, pid),
                   "after": _row(after, pid), "before_s": round(t1 - t0, 2),
                   "after_s": round(t2 - t1, 2)}
            print(json.dumps(row), flush=True)
            cases.append(row)
        for name in ("none", "jpeg50"):
            img = ATTACKS[name](base)
            row = {"size": f"{w}x{h}", "attack": f"unmarked_{name}",
                   "before": _row(old.detect(img), None),
                   "after": _row(watermark.detect(img), None)}
            print(json.dumps(row), flush=True)
            cases.append(row)
    return {"cases": cases, "summary": summarise(cases)}


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    marked = [c for c in cases if not str(c["attack"]).startswith("unmarked")]
    unmarked = [c for c in cases if str(c["attack"]).startswith("unmarked")]
    for side in ("before", "after"):
        m = [c[side] for c in marked]
        u = [c[side] for c in unmarked]
        out[side] = {
            "marked_cases": len(m), "marked_correct": sum(bool(r["correct"]) for r in m),
            "agree_min": min(r["agree"] for r in m),
            "agree_mean": round(float(np.mean([r["agree"] for r in m])), 4),
            "z_min": min(r["z"] for r in m), "z_max": max(r["z"] for r in m),
            "unmarked_cases": len(u), "unmarked_claims": sum(bool(r["claim"]) for r in u),
            "unmarked_z_max": max(r["z"] for r in u),
        }
    dz = [abs(c["after"]["z"] - c["before"]["z"]) for c in marked]
    out["abs_z_change_max"] = round(max(dz), 3)
    out["abs_z_change_max_small"] = round(max(  # images up to 1024 px: same code path
        (abs(c["after"]["z"] - c["before"]["z"]) for c in marked
         if max(map(int, str(c["size"]).split("x"))) <= watermark.REDUCE_SIDE), default=0.0), 3)
    return out


def bench_pdq() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, (w, h) in enumerate(((8000, 8000), (6000, 4000), (3000, 3000), (1500, 1100))):
        img = photo(w, h, 20 + i)
        full = [np.packbits(pdqhash.compute(np.ascontiguousarray(x))[0].astype(np.uint8))
                for x in (img, fingerprint._centre(img, 0.9), img[:, ::-1])]
        new = fingerprint.query_hashes(img)
        dist = [int(np.unpackbits(a ^ b).sum()) for a, b in zip(full, new, strict=True)]
        rows.append({"size": f"{w}x{h}", "pdq_bits_changed": dist,
                     "match_distance": fingerprint.MATCH_DISTANCE})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before-ref", default="34e78bc", help="git ref of the code to compare with")
    ap.add_argument("--out", default=str(ROOT / "bench/results/verify_large.json"))
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    result: dict[str, Any] = {"before_ref": args.before_ref, "reduce_side":
                                 watermark.REDUCE_SIDE, "hash_side": fingerprint.HASH_SIDE}
    with tempfile.TemporaryDirectory(prefix="verify_large_") as tmp:
        before_src = export_ref(args.before_ref, Path(tmp))
        if not args.skip_quality:
            old = load_module(before_src / "doppelab/provenance/watermark.py", "_old_watermark")
            result["quality"] = bench_quality(old)
            result["pdq"] = bench_pdq()
        if not args.skip_speed:
            result["speed"] = bench_speed(before_src, Path(tmp))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if "quality" in result:
        print(json.dumps(result["quality"]["summary"], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
