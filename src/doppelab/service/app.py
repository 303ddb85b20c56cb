"""The FastAPI app of ``doppelab serve``: deepfake checks as jobs, and the web page.

Routes (every one but ``/healthz``, the page and its static files needs an API key as
``Authorization: Bearer dpl_...``)::

    POST   /v1/checks               multipart upload (part "file") -> 202 + Location
    GET    /v1/checks               the caller's recent checks
    GET    /v1/checks/{id}          state, progress, and once done the detect + verify result
    GET    /v1/checks/{id}/report   detect's self-contained HTML report
    DELETE /v1/checks/{id}          forget a check (upload, report, row)
    GET    /healthz                 liveness and queue size

Errors are ``application/problem+json`` (RFC 9457) with no traceback. A check belongs to the
key that created it; another key gets 404 (existence is not revealed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from doppelab.core.errors import (
    DimensionsTooLargeError,
    EmptyFileError,
    InputError,
    NotMediaError,
    UnsupportedCodecError,
)
from doppelab.core.media import probe
from doppelab.core.types import MediaInfo
from doppelab.core.version import __version__
from doppelab.service.openapi import ERRORS, UPLOAD_BODY, custom_openapi
from doppelab.service.runner import Dispatcher, RunnerConfig
from doppelab.service.schemas import Check, CheckList, Health, check_view
from doppelab.service.security import (
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    RateLimiter,
    unauthorized,
)
from doppelab.service.store import ApiKey, Job, Store
from doppelab.service.upload import UploadError, receive_file, remove_quietly

STATIC = Path(__file__).with_name("static")
_log = logging.getLogger("doppelab.service")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """Settings of ``doppelab serve``."""

    data_dir: Path | None = None
    max_upload_mb: float = 100.0
    max_seconds: float = 600.0  # longest video accepted
    rate_per_minute: float = 120.0
    burst: int = 30
    max_active_per_key: int = 20  # queued + running checks one key may have
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def _problem_response(exc: ProblemError, request: Request) -> JSONResponse:
    return JSONResponse(exc.body(str(request.url.path)), status_code=exc.status,
                        headers=exc.headers, media_type=PROBLEM_MEDIA_TYPE)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return _problem_response(exc, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return _problem_response(ProblemError(exc.status_code, slug, title, detail,
                                              dict(exc.headers or {})), request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg"))
                          for e in exc.errors()[:3])
        return _problem_response(ProblemError(422, "invalid-request", "Invalid request",
                                              where[:300]), request)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s", request.url.path)
        return _problem_response(ProblemError(500, "internal", "Internal Server Error",
                                              "the error was logged on the server"), request)


_MEDIA_ERRORS: list[tuple[type[InputError], int, str, str]] = [
    (EmptyFileError, 400, "empty-file", "Empty file"),
    (NotMediaError, 415, "not-media", "Not an image or video"),
    (UnsupportedCodecError, 415, "unsupported-codec", "Unsupported codec"),
    (DimensionsTooLargeError, 413, "too-many-pixels", "Image or video too large"),
    (InputError, 422, "unreadable-media", "Unreadable media"),
]


def _extension(info: MediaInfo) -> str:
    """Storage suffix from the sniffed container (decoders and C2PA read by it)."""
    name = (info.container or "").lower()
    if info.kind == "image":
        return {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp"}.get(name, ".img")
    for token, ext in (("mp4", ".mp4"), ("matroska", ".mkv"), ("webm", ".webm"),
                       ("avi", ".avi")):
        if token in name:
            return ext
    return ".video"


async def _sniff(path: Path, filename: str, cfg: ServiceConfig) -> MediaInfo:
    try:
        info = await run_in_threadpool(probe, path)
    except InputError as exc:
        detail = str(exc).replace(str(path), filename)
        for cls, status, slug, title in _MEDIA_ERRORS:
            if isinstance(exc, cls):
                raise ProblemError(status, slug, title, detail) from None
        raise  # pragma: no cover - InputError is the last entry
    if info.kind == "video" and (info.duration or 0.0) > cfg.max_seconds:
        raise ProblemError(413, "too-long", "Video too long",
                           f"{info.duration:.0f} s; the limit is {cfg.max_seconds:.0f} s")
    return info


class Service:
    """The app's state: store, dispatcher, rate limiter (one per app)."""

    def __init__(self, cfg: ServiceConfig) -> None:
        self.cfg = cfg
        self.store = Store(cfg.data_dir)
        self.limiter = RateLimiter(cfg.rate_per_minute, cfg.burst)
        self.dispatcher: Dispatcher | None = None

    def authenticate(self, creds: HTTPAuthorizationCredentials | None) -> ApiKey:
        if creds is None or not creds.credentials:
            raise unauthorized("send an API key as 'Authorization: Bearer <key>'")
        key = self.store.key_for_token(creds.credentials)
        if key is None:
            raise unauthorized("unknown API key")
        if key.revoked is not None:
            raise unauthorized("this API key was revoked")
        wait = self.limiter.take(key.id)
        if wait > 0:
            raise ProblemError(429, "rate-limited", "Too Many Requests",
                               f"rate limit {self.cfg.rate_per_minute:g}/min per key",
                               {"Retry-After": str(max(1, round(wait + 0.5)))})
        return key

    async def accept(self, request: Request, key: ApiKey) -> Check:
        """Receive, sniff and store an upload as a queued check."""
        active = self.store.counts(key.id)
        if active.get("queued", 0) + active.get("running", 0) >= self.cfg.max_active_per_key:
            raise ProblemError(429, "too-many-active", "Too Many Requests",
                               f"{self.cfg.max_active_per_key} checks of this key are still "
                               "queued or running", {"Retry-After": "5"})
        try:
            got = await receive_file(request.stream(), request.headers.get("content-type"),
                                     request.headers.get("content-length"),
                                     self.store.uploads, self.cfg.max_upload_bytes)
        except UploadError as exc:
            raise ProblemError(exc.status, "bad-upload", exc.title, exc.detail) from None
        try:
            info = await _sniff(got.path, got.filename, self.cfg)
            stored = got.path.with_name(got.path.name.removeprefix(".incoming-")
                                        + _extension(info))
            os.replace(got.path, stored)
        except BaseException:
            remove_quietly(got.path)
            raise
        job = self.store.add_job(key_id=key.id, filename=got.filename, upload=stored.name,
                                 kind=info.kind, size=got.size)
        if self.dispatcher is not None:
            self.dispatcher.wake.set()
        return check_view(job, self.store.queue_position(job))

    def owned(self, job_id: str, key: ApiKey) -> Job:
        job = self.store.get(job_id, key.id) if len(job_id) <= 64 else None
        if job is None:
            raise ProblemError(404, "not-found", "Not Found", "no such check for this key")
        return job


_bearer = HTTPBearer(auto_error=False, description="an API key from `doppelab keys api create`")


def _key(request: Request,
         creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKey:
    svc: Service = request.app.state.service
    return svc.authenticate(creds)


Key = Annotated[ApiKey, Depends(_key)]


def create_app(cfg: ServiceConfig | None = None) -> FastAPI:
    """The ASGI app; the worker pool starts with the app's lifespan."""
    svc = Service(cfg or ServiceConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        again, failed = svc.store.recover()
        if again or failed:
            _log.warning("restart: %d running checks requeued, %d failed", again, failed)
        disp = Dispatcher(svc.store, svc.cfg.runner)
        svc.dispatcher = disp
        tasks = [asyncio.create_task(disp.run()), asyncio.create_task(disp.sweeper())]
        try:
            yield
        finally:
            await disp.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # no /docs or /redoc: their pages load scripts from a CDN; the spec is at /openapi.json
    app = FastAPI(title="doppelab", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Deepfake checks as jobs: upload an image or video, poll the "
                  "check, read the verdict (detect) and the provenance layers (verify).")
    app.state.service = svc
    _install_error_handlers(app)
    _routes(app, svc)
    _job_routes(app, svc)
    app.openapi = lambda: custom_openapi(app)  # type: ignore[method-assign]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _routes(app: FastAPI, svc: Service) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz() -> Health:
        counts = svc.store.counts()
        return Health(status="ok", version=__version__, workers=svc.cfg.runner.workers,
                      queued=counts.get("queued", 0), running=counts.get("running", 0))

    @app.post("/v1/checks", status_code=202, response_model=Check, tags=["checks"],
              responses={202: {"description": "accepted; poll the Location",
                               "headers": {"Location": {"schema": {"type": "string"}}}},
                         **ERRORS["upload"]},
              openapi_extra={"requestBody": UPLOAD_BODY})
    async def create_check(request: Request, key: Key) -> JSONResponse:
        view = await svc.accept(request, key)
        return JSONResponse(view.model_dump(), status_code=202,
                            headers={"Location": view.links.self})


def _job_routes(app: FastAPI, svc: Service) -> None:
    @app.get("/v1/checks", response_model=CheckList, tags=["checks"], responses=ERRORS["auth"])
    async def list_checks(key: Key) -> CheckList:
        return CheckList(checks=[check_view(j, full=False) for j in svc.store.list_jobs(key.id)])

    @app.get("/v1/checks/{check_id}", response_model=Check, tags=["checks"],
             responses=ERRORS["one"])
    async def get_check(check_id: str, key: Key) -> Check:
        job = svc.owned(check_id, key)
        pos = svc.store.queue_position(job) if job.state == "queued" else None
        return check_view(job, pos)

    @app.get("/v1/checks/{check_id}/report", response_class=HTMLResponse, tags=["checks"],
             responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}},
                        **ERRORS["report"]})
    async def get_report(check_id: str, key: Key) -> Response:
        job = svc.owned(check_id, key)
        path = svc.store.report_path(job.id)
        if job.state != "done" or not path.is_file():
            why = job.error if job.state == "failed" else f"the check is {job.state}"
            raise ProblemError(409, "no-report", "No report yet", f"no report: {why}")
        return FileResponse(path, media_type="text/html")

    @app.delete("/v1/checks/{check_id}", status_code=204, tags=["checks"],
                responses=ERRORS["one"], response_class=Response)
    async def delete_check(check_id: str, key: Key) -> Response:
        job = svc.owned(check_id, key)
        svc.store.forget(job)
        return Response(status_code=204)
