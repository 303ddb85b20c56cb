"""``doppelab swap``: put a source face into an image or video; the output is always labelled."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doppelab.cli.common import add_command, add_json, path_arg, progress_bar
from doppelab.core.errors import UsageError
from doppelab.core.media import probe

if TYPE_CHECKING:
    from doppelab.swap.methods import SwapMethod

EXAMPLE = """\
examples:
  doppelab swap --method mesh --source me.faceset target.mp4 -o fake.mp4
  doppelab swap --method mesh --source me.jpg group.jpg -o fake.jpg --face them.jpg
  doppelab swap model/ target.mp4 -o fake.mp4 --colour histogram --blend poisson

Every output carries an invisible watermark, a signed C2PA manifest (AI-generated) and a
registry entry (run `doppelab keys init` once). Use only with the consent of the people shown."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub,
        "swap",
        help="swap faces in an image or video (labelled output)",
        description="Swap the chosen person's face in TARGET with the source face, using a "
        "trained autoencoder MODEL or the training-free mesh method, then colour-match, blend, "
        "add matching grain, smooth over time, keep the audio, and label the output.",
        epilog=EXAMPLE,
        run=run,
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] TARGET",
        help="a model folder from `doppelab train` (not with --method mesh), then the "
        "target image or video",
    )
    p.add_argument(
        "-o", "--output", required=True, type=path_arg, help="output .jpg/.png/.webp or .mp4/.mov"
    )
    p.add_argument(
        "--method",
        choices=("autoencoder", "mesh"),
        default=None,
        help="mesh: training-free (needs --source); default: the model's method",
    )
    p.add_argument("--source", type=path_arg, help="source face: a photo or a FaceSet (mesh)")
    p.add_argument(
        "--face",
        type=path_arg,
        metavar="REF",
        help="photo of the person in the target to replace (default: the model's "
        "target person, or the largest face)",
    )
    p.add_argument("--shape", type=float, default=0.8,
                   help="mesh: source face shape 0-1 (default 0.8)")
    p.add_argument("--colour", choices=("reinhard", "histogram", "none"), default="reinhard",
                   help="colour transfer onto the target's skin (default reinhard)")
    p.add_argument("--blend", choices=("alpha", "poisson"), default="alpha",
                   help="how the face is pasted back (default alpha)")
    p.add_argument("--erode", type=float, default=0.0,
                   help="mask erosion, share of the crop (default 0)")
    p.add_argument("--feather", type=float, default=0.02,
                   help="width of the mask's soft edge, share of the crop (default 0.02; wider "
                   "hides seams but keeps more of the target: identity transfer drops)")
    p.add_argument("--sharpen", type=float, default=0.0,
                   help="unsharp-mask amount (default 0: off; e.g. 0.5)")
    p.add_argument("--no-grain", action="store_true", help="do not match the target's grain")
    p.add_argument("--smooth", type=float, default=0.5, help="temporal smoothing 0-1 (default 0.5)")
    add_json(p, "print the result as JSON")


def _method(args: argparse.Namespace) -> tuple[SwapMethod, Path, dict[str, Path]]:
    from doppelab.swap.methods import create_method

    if args.method == "mesh":
        if args.source is None or len(args.inputs) != 1:
            raise UsageError("--method mesh takes --source SOURCE and one TARGET")
        method = create_method("mesh", source=args.source, shape=args.shape)
        # a FaceSet is identified by its index file (the manifest records its hash)
        src = args.source / "faceset.json" if args.source.is_dir() else args.source
        return method, args.inputs[0], {"source": src}
    if len(args.inputs) != 2:
        raise UsageError("give MODEL and TARGET (or --method mesh --source SOURCE TARGET)")
    model, target = args.inputs
    method = create_method("autoencoder", model=model)
    return method, target, {}


def run(args: argparse.Namespace) -> int:
    from doppelab.swap.convert import SwapConfig, swap_file

    cfg = SwapConfig(
        colour=args.colour,
        blend=args.blend,
        erode=args.erode,
        feather=args.feather,
        sharpen=args.sharpen,
        grain=not args.no_grain,
        smooth=args.smooth,
        target_face=args.face,
    )
    method, target, sources = _method(args)
    from doppelab.core.storage import check_not_special, same_file

    check_not_special(args.output)  # a device or FIFO: refused before the work, not after
    for given in [*args.inputs, *([args.source] if args.source is not None else [])]:
        if same_file(args.output, given):
            raise UsageError(f"-o would overwrite the input {given}: choose another output")
    total = probe(target).frames
    with progress_bar(total, unit="frame", desc="swap") as bar:
        res = swap_file(
            method,
            target,
            args.output,
            cfg,
            sources=sources,
            progress=bar.update,
        )
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(res.path),
                    "frames": res.frames,
                    "frames_swapped": res.frames_swapped,
                    "faces_swapped": res.faces_swapped,
                    "method": res.method,
                    "payload_id": res.payload_id,
                    "manifest_sha256": res.manifest_sha256,
                    "seconds": round(res.seconds, 3),
                },
                indent=2,
            )
        )
        return 0
    print(_line(res))
    return 0


def _line(res: Any) -> str:
    """The text result of a swap; the payload is written as verify writes it (8 hex digits)."""
    faces = "face" if res.faces_swapped == 1 else "faces"
    return (
        f"swapped {res.faces_swapped} {faces} in {res.frames_swapped}/{res.frames} frames with "
        f"{res.method} in {res.seconds:.1f} s ({res.frames / max(res.seconds, 1e-9):.1f} fps) "
        f"-> {res.path} (labelled: watermark payload {res.payload_id:08x}, signed manifest, "
        "registry entry)"
    )
