"""``doppelab extract``: images, image folders and videos -> a FaceSet."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from doppelab.cli.common import add_command, add_json, path_arg, progress_bar
from doppelab.core.media import probe

EXAMPLE = """\
examples:
  doppelab extract talk.mp4 -o talk.faceset
  doppelab extract photos/ clip.mov -o me.faceset --identity me.jpg --size 512
  doppelab extract crowd.mp4 -o crowd.faceset --max-faces 8 --every 5 --max-yaw 45

Re-running the same command resumes: finished inputs and frames are skipped."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub,
        "extract",
        help="detect, track, align and mask faces into a FaceSet",
        description="Decode images, image folders and videos; detect faces (BlazeFace), track "
        "478-point landmarks (FaceMesh), align each face to the canonical template, build masks, "
        "score quality, embed identity and cluster people; write a resumable FaceSet.",
        epilog=EXAMPLE,
        run=run,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=path_arg,
                   help="image, folder or video")
    p.add_argument("-o", "--output", required=True, type=path_arg, help="FaceSet folder to write")
    p.add_argument("--size", type=int, default=256, help="aligned crop side, 64-1024 (default 256)")
    p.add_argument(
        "--coverage",
        type=float,
        default=0.75,
        help="share of the crop the face mesh spans (default 0.75)",
    )
    p.add_argument("--min-face", type=float, default=32.0, help="smallest face in px (default 32)")
    p.add_argument("--max-faces", type=int, default=4, help="faces tracked per frame (default 4)")
    p.add_argument("--every", type=int, default=1, help="keep every Nth frame (default 1)")
    p.add_argument(
        "--identity",
        type=path_arg,
        metavar="REF",
        help="keep only the person shown in this reference photo",
    )
    p.add_argument("--workers", type=int, default=1, help="inputs processed in parallel")
    g = p.add_argument_group("quality filters (faces failing one are dropped)")
    g.add_argument("--min-blur", type=float, help="variance of Laplacian at 128 px (e.g. 50)")
    g.add_argument("--max-yaw", type=float, help="degrees")
    g.add_argument("--max-pitch", type=float, help="degrees")
    g.add_argument("--min-score", type=float, help="detector score 0-1")
    g.add_argument("--min-eye-open", type=float, help="eye aspect ratio (closed < 0.15)")
    add_json(p, "print the result as JSON")


def _total_frames(inputs: list[Path], every: int) -> int | None:
    total = 0
    for path in inputs:
        info = probe(path)
        if info.frames is None:
            return None
        total += (info.frames + every - 1) // every
    return total


def run(args: argparse.Namespace) -> int:
    # imported here so `doppelab --help` does not pay for loading MediaPipe
    from doppelab.extract.pipeline import ExtractConfig, extract
    from doppelab.extract.quality import QualityFilter

    cfg = ExtractConfig(
        size=args.size,
        coverage=args.coverage,
        min_face=args.min_face,
        max_faces=args.max_faces,
        every=args.every,
        workers=args.workers,
        identity=args.identity,
        quality=QualityFilter(
            min_blur=args.min_blur,
            max_yaw=args.max_yaw,
            max_pitch=args.max_pitch,
            min_score=args.min_score,
            min_eye_open=args.min_eye_open,
        ),
    )
    total = _total_frames(args.inputs, args.every)
    with progress_bar(total, unit="frame", desc="extract", dynamic_ncols=True) as bar:
        result = extract(args.inputs, args.output, cfg, progress=bar.update)
    if args.json:
        out = {
            "path": str(result.path),
            "faces": result.faces,
            "people": result.people,
            "frames": result.frames,
            "frames_with_face": result.frames_with_face,
            "processed": result.processed,
            "dropped": result.dropped,
            "seconds": round(result.seconds, 3),
            "media": [asdict(m) for m in result.media],
        }
        print(json.dumps(out, indent=2))
        return 0
    fps = result.processed / result.seconds if result.seconds > 0 else 0.0
    skipped = result.frames - result.processed
    resumed = f", {skipped} already done" if skipped else ""
    dropped = f", {sum(result.dropped.values())} dropped by filters" if result.dropped else ""
    print(
        f"{result.faces} {'face' if result.faces == 1 else 'faces'} of {result.people} "
        f"{'person' if result.people == 1 else 'people'} from "
        f"{result.frames_with_face}/{result.frames} frames of {len(result.media)} input(s)"
        f"{dropped}{resumed} in {result.seconds:.1f} s ({fps:.0f} fps) -> {result.path}"
    )
    return 0
