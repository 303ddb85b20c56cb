"""``doppelab verify FILE``: the layered provenance verdict (manifest, watermark, registry)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from doppelab.cli.common import add_command, add_json, path_arg
from doppelab.provenance.verify import Verdict, verify

EPILOG = """\
examples:
  doppelab verify suspect.jpg
  doppelab verify --json clip.mp4 > verdict.json

Exit code 0 whether or not provenance was found; read the summary (or "provenance_found")."""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "verify",
        help="check a file's C2PA manifest, doppelab watermark and registry match",
        description="Layered verdict for an image or video: C2PA manifest (none / invalid / "
        "valid-untrusted / trusted; unchecked for a still image over 512 MB), invisible "
        "watermark, fingerprint registry.",
        epilog=EPILOG,
        run=run,
    )
    parser.add_argument("file", type=path_arg, help="image or video to check")
    add_json(parser, "machine-readable output")
    parser.add_argument("--keys-dir", default=None,
                        help="folder of the lab keys, the trust anchor (default: "
                        "$DOPPELAB_HOME/keys, else the user config dir)")
    parser.add_argument("--registry", default=None,
                        help="registry SQLite file (default: $DOPPELAB_REGISTRY, else "
                        "$DOPPELAB_HOME/registry.sqlite, else the user data dir)")


def _text(v: Verdict) -> str:
    m, w, r = v.manifest, v.watermark, v.registry
    lines = [
        f"file:      {v.path} ({v.kind})",
        f"manifest:  {m.state}" + (f" [{', '.join(m.codes)}]" if m.codes else ""),
    ]
    if w.found:
        lines.append(
            f"watermark: found, payload {w.payload_id:08x}, bit agreement "
            f"{w.bit_agreement:.3f}, confidence {w.confidence:.2f}"
        )
    else:
        lines.append(
            f"watermark: not found (bit agreement {w.bit_agreement:.3f}, sync {w.sync_score:.2f})"
        )
    if r.matched and r.by_payload:
        lines.append(
            f"registry:  {r.payload_id:08x}"
            + (f", PDQ distance {r.distance}" if r.distance is not None else "")
        )
    elif r.matched:  # similar pixels only: the real target of a swap looks like its fake
        lines.append(f"registry:  similar to {r.payload_id:08x} (PDQ distance {r.distance}; "
                     "pixels only: that output re-encoded, or its source)")
    else:
        lines.append("registry:  no match")
    lines.append(f"summary:   {v.summary}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    verdict = verify(args.file, keys_dir=args.keys_dir, registry_path=args.registry)
    print(json.dumps(verdict.to_dict(), indent=2) if args.json else _text(verdict))
    return 0
