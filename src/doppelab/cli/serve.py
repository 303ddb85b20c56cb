"""``doppelab serve``: the HTTP API and web page (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from doppelab.cli.common import add_command, path_arg
from doppelab.core.errors import UsageError

EPILOG = """\
examples:
  doppelab keys api create --name me          # prints an API key once
  doppelab serve                              # http://127.0.0.1:8000/ (page), /openapi.json
  doppelab serve --host 0.0.0.0 --port 8080 --workers 2 --retention-hours 6
  curl -H "Authorization: Bearer $KEY" -F file=@clip.mp4 http://127.0.0.1:8000/v1/checks
  doppelab serve --openapi > docs/openapi.json

Jobs and uploads live under --data-dir (default $DOPPELAB_HOME/service or the user data dir):
a restart loses nothing (queued checks run, interrupted ones are retried once)."""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "serve",
        help="run the check API and web page",
        description="Serve deepfake checks over HTTP: POST /v1/checks (multipart) -> 202 + "
        "Location; poll GET /v1/checks/{id}; the page at / uploads and shows the result.",
        epilog=EPILOG,
        run=run,
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data-dir", type=path_arg, default=None, help="jobs, uploads and reports")
    p.add_argument("--workers", type=int, default=2, help="checks run at once (default 2)")
    p.add_argument("--frames", type=int, default=32, help="frames sampled per video (32)")
    p.add_argument("--max-upload-mb", type=float, default=100.0, help="upload cap (100)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="longest video (600 s)")
    p.add_argument("--rate", type=float, default=120.0, help="requests/minute per key (120)")
    p.add_argument("--burst", type=int, default=30, help="request burst per key (30)")
    p.add_argument("--retention-hours", type=float, default=24.0,
                   help="delete uploads, reports and jobs after this long (24)")
    p.add_argument("--pool", choices=("process", "thread"), default="process",
                   help="worker pool kind (default process)")
    p.add_argument("--openapi", action="store_true", help="print the OpenAPI spec and exit")
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")


def config(args: argparse.Namespace) -> Any:
    from doppelab.service.app import ServiceConfig
    from doppelab.service.runner import RunnerConfig

    if args.workers < 1 or args.frames < 1 or args.burst < 1:
        raise UsageError("--workers, --frames and --burst must be >= 1")
    if min(args.max_upload_mb, args.max_seconds, args.rate, args.retention_hours) <= 0:
        raise UsageError("--max-upload-mb, --max-seconds, --rate, --retention-hours must be > 0")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a port number")
    sweep = min(60.0, args.retention_hours * 3600 / 10)
    runner = RunnerConfig(workers=args.workers, pool=args.pool, frames=args.frames,
                          retention_s=args.retention_hours * 3600, sweep_every_s=sweep)
    return ServiceConfig(data_dir=args.data_dir, max_upload_mb=args.max_upload_mb,
                         max_seconds=args.max_seconds, rate_per_minute=args.rate,
                         burst=args.burst, runner=runner)


def run(args: argparse.Namespace) -> int:
    from doppelab.service.app import create_app
    from doppelab.service.openapi import spec_text

    cfg = config(args)
    if args.openapi:  # the spec needs no data: build the app on a throw-away folder
        import dataclasses
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(dataclasses.replace(cfg, data_dir=Path(tmp)))
            print(spec_text(app), end="")
            app.state.service.store.close()
        return 0
    app = create_app(cfg)
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=5)
    return 0
