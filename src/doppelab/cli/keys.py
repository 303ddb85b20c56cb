"""``doppelab keys``: create or show the lab's offline C2PA signing keys."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from doppelab.cli.common import add_command, add_json
from doppelab.provenance.keys import default_keys_dir, describe_keys, init_keys

EPILOG = """\
examples:
  doppelab keys init            # lab root CA + ES256 signing certificate, offline
  doppelab keys show --json     # fingerprints and expiry
  doppelab keys api create --name newsroom   # an API key for doppelab serve (shown once)
  doppelab keys api list                     # ids, names, revoked or not (never the keys)
  doppelab keys api revoke newsroom          # by id or name; effective at once

Keys live under the user config dir (or $DOPPELAB_HOME/keys); private keys are mode 0600 and
never printed."""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "keys",
        help="create or show the lab's C2PA signing keys; manage API keys (keys api)",
        description="Create (offline) or show the lab root CA and signing certificate.",
        epilog=EPILOG,
        run=run,
    )
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="create the lab root CA and signing certificate")
    init.add_argument("--force", action="store_true", help="replace existing keys")
    show = sub.add_parser("show", help="print certificate fingerprints and expiry")
    add_json(show, "machine-readable output")
    for p in (init, show):
        p.add_argument(
            "--dir",
            default=None,
            help="keys folder (default: $DOPPELAB_HOME/keys, else the user config dir)",
        )
    _register_api(sub)


def _register_api(sub: Any) -> None:
    api = sub.add_parser("api", help="API keys of doppelab serve (create, list, revoke)")
    actions = api.add_subparsers(dest="api_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who the key is for (1-64 characters)")
    revoke = actions.add_parser("revoke", help="revoke a key by id or name")
    revoke.add_argument("ident", metavar="ID|NAME")
    listing = actions.add_parser("list", help="list keys (ids and names, never the keys)")
    for p in (create, revoke, listing):
        p.add_argument("--data-dir", default=None,
                       help="service data folder (default: $DOPPELAB_HOME/service or the user "
                       "data dir)")
        add_json(p, "machine-readable output")


def _run_api(args: argparse.Namespace) -> int:
    from doppelab.service.store import Store

    store = Store(args.data_dir)
    try:
        if args.api_command == "create":
            key, token = store.create_key(args.name)
            if args.json:
                print(json.dumps({**asdict(key), "key": token}))
            else:
                print(f"{token}\n(id {key.id}, name {key.name}; shown once: store it now)")
            return 0
        if args.api_command == "revoke":
            key = store.revoke_key(args.ident)
            print(json.dumps(asdict(key)) if args.json else f"revoked {key.id} ({key.name})")
            return 0
        keys = store.list_keys()
    finally:
        store.close()
    if args.json:
        print(json.dumps([asdict(k) for k in keys], indent=2))
    for k in [] if args.json else keys:
        state = "revoked" if k.revoked else "active"
        print(f"{k.id}  {k.name}  {state}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.keys_command == "api":
        return _run_api(args)
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
