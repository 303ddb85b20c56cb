"""Build the canonical 478-point mean face shipped as ``doppelab/extract/data/mean_face.npy``.

Recipe: FaceMesh landmarks (frame px, z in the same scale) on every 10th frame of each ``train``
clip of ../shared/data/clips; generalised Procrustes analysis in 3D (similarity fits to the running
mean, 5 rounds); then the mean is put in a head frame: x from the symmetric point pairs (subject's
right to left as seen in the image), y from chin to forehead made orthogonal to x, z = x cross y
(pointing away from the camera, as MediaPipe's z), centred on the stable points, unit scale
(RMS distance of the stable points from their centroid = 1).

Usage: python scripts/make_mean_face.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from doppelab.core.media import iter_frames
from doppelab.extract.landmarks import FaceTracker, TrackerConfig
from doppelab.extract.pose import head_frame, similarity_3d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("src/doppelab/extract/data/mean_face.npy"))
    args = ap.parse_args()
    shapes = []
    with open(args.data_dir / "clips.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    for row in rows:
        with FaceTracker(TrackerConfig(max_faces=1)) as tracker:
            for frame in iter_frames(args.data_dir / row["file"]):
                faces = tracker.process(frame.image)
                if faces and frame.ref.index % 10 == 0:
                    shapes.append(faces[0].landmarks.astype(np.float64))
    x = np.stack(shapes)
    mean = x[0] - x[0].mean(axis=0)
    for _ in range(5):
        aligned = []
        for s in x:
            scale, rot, t = similarity_3d(s, mean)
            aligned.append(scale * s @ rot.T + t)
        mean = np.mean(aligned, axis=0)
    canon = head_frame(mean)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, canon.astype(np.float32))
    print(f"{len(shapes)} shapes from {len(rows)} clips -> {args.out}")


if __name__ == "__main__":
    main()
