"""``doppelab faces``: statistics and a contact sheet of a FaceSet."""

from __future__ import annotations

import argparse
import json

from doppelab.cli.common import add_command, add_json, path_arg
from doppelab.core.errors import UsageError
from doppelab.core.media import write_image
from doppelab.extract.contact import contact_sheet, stats
from doppelab.extract.faceset import FaceSet

EXAMPLE = """\
examples:
  doppelab faces talk.faceset                 # stats + talk.faceset/contact.png
  doppelab faces talk.faceset --sheet s.png --max 128
  doppelab faces talk.faceset --json"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub,
        "faces",
        help="print FaceSet statistics and write a contact sheet",
        description="Print the number of faces, people, sources and quality percentiles of a "
        "FaceSet, and write a contact sheet PNG of faces spread over each person.",
        epilog=EXAMPLE,
        run=run,
    )
    p.add_argument("faceset", type=path_arg, help="a FaceSet folder made by extract")
    p.add_argument("--sheet", type=path_arg,
                   help="contact sheet path (default FACESET/contact.png)")
    p.add_argument("--max", type=int, default=64, help="faces on the sheet (default 64)")
    add_json(p, "print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    if args.max < 1:
        raise UsageError(f"--max must be >= 1, got {args.max}")
    fs = FaceSet.open(args.faceset)
    info = stats(fs)
    sheet_path = args.sheet or (args.faceset / "contact.png")
    write_image(sheet_path, contact_sheet(fs, max_faces=args.max))
    info["contact_sheet"] = str(sheet_path)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    people = ", ".join(f"p{p}: {c}" for p, c in info["people"].items())
    n = len(info["people"])
    print(f"{info['faces']} faces ({info['size']} px) of {n} {'person' if n == 1 else 'people'} "
          f"[{people}]")
    for s in info["sources"]:
        print(f"  {s['path']}: {s['faces']} faces in {s['frames_with_face']}/{s['frames']} frames")
    for f, v in info["quality"].items():
        print(f"  {f:>8}: p5 {v['p5']:8.2f}  median {v['median']:8.2f}  p95 {v['p95']:8.2f}")
    print(f"contact sheet -> {sheet_path}")
    return 0
