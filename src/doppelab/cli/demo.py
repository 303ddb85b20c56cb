"""``doppelab demo``: the pipeline on built-in material, no data of your own needed.

Material: NASA's public-domain portrait of astronaut Eileen Collins, shipped inside
scikit-image. The demo turns it into a short moving test video, extracts its faces into a
FaceSet and writes a contact sheet. Later stages of the lab extend the same demo.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from doppelab.core.media import VideoWriter, write_image

EXAMPLE = """\
examples:
  doppelab demo                 # writes ./doppelab-demo/
  doppelab demo -o /tmp/demo"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run the pipeline on built-in material (no data needed)",
        description=__doc__,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("doppelab-demo"),
        help="folder for the demo's files (default ./doppelab-demo)",
    )
    p.set_defaults(func=run)


def make_test_video(path: Path, seconds: float = 3.0, fps: int = 25, size: int = 512) -> Path:
    """A head-and-shoulders clip made from the astronaut photo: slow zoom, sway and tilt."""
    from skimage import data

    photo = cv2.resize(np.ascontiguousarray(data.astronaut()), (size, size))  # type: ignore[no-untyped-call]
    with VideoWriter(path, fps=fps, width=size, height=size) as writer:
        for i in range(int(seconds * fps)):
            t = i / fps
            m = cv2.getRotationMatrix2D((size / 2, size / 3), 4 * np.sin(1.3 * t), 1 + 0.04 * t)
            m[:, 2] = m[:, 2] + (12 * np.sin(0.9 * t), 6 * np.cos(1.1 * t))
            frame = cv2.warpAffine(photo, m, (size, size), borderMode=cv2.BORDER_REFLECT101)
            writer.write(np.ascontiguousarray(frame), timestamp=t)
    return path


def run(args: argparse.Namespace) -> int:
    from doppelab.extract.contact import contact_sheet
    from doppelab.extract.faceset import FaceSet
    from doppelab.extract.pipeline import extract

    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print("1/2 making a test video from the astronaut photo (public domain)", file=sys.stderr)
    video = make_test_video(out / "astronaut.mp4")
    print("2/2 extracting faces", file=sys.stderr)
    result = extract([video], out / "astronaut.faceset")
    sheet = out / "contact.png"
    write_image(sheet, contact_sheet(FaceSet.open(result.path)))
    print(
        f"demo done in {time.perf_counter() - t0:.1f} s: {result.faces} faces in "
        f"{result.frames_with_face}/{result.frames} frames -> {result.path}, contact sheet {sheet}"
    )
    return 0
