"""``doppelab keys``: create or show the lab's offline C2PA signing keys."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from doppelab.provenance.keys import default_keys_dir, describe_keys, init_keys

EPILOG = """\
examples:
  doppelab keys init            # lab root CA + ES256 signing certificate, offline
  doppelab keys show --json     # fingerprints and expiry

Keys live under the user config dir (or $DOPPELAB_HOME/keys); private keys are mode 0600 and
never printed."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="create or show the lab's C2PA signing keys",
        description="Create (offline) or show the lab root CA and signing certificate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="create the lab root CA and signing certificate")
    init.add_argument("--force", action="store_true", help="replace existing keys")
    show = sub.add_parser("show", help="print certificate fingerprints and expiry")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    for p in (init, show):
        p.add_argument(
            "--dir",
            default=None,
            help="keys folder (default: %(default)s -> user config dir or $DOPPELAB_HOME/keys)",
        )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.keys_command == "init":
        folder = init_keys(args.dir, force=args.force)
        print(f"created lab keys in {folder}")
        for info in describe_keys(folder):
            print(f"  {info.role}: sha256 {info.sha256}  valid until {info.not_after}")
        return 0
    infos = describe_keys(args.dir)
    if args.json:
        where = args.dir or str(default_keys_dir())
        print(
            json.dumps(
                {"keys_dir": str(where), "certificates": [asdict(i) for i in infos]}, indent=2
            )
        )
        return 0
    for info in infos:
        print(
            f"{info.role}: {info.subject}\n  sha256 {info.sha256}\n"
            f"  valid {info.not_before} .. {info.not_after}"
        )
    return 0
