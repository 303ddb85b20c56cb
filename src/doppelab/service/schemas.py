"""Response bodies of the HTTP API (pydantic models; they make the OpenAPI spec)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from doppelab.service.store import Job

State = Literal["queued", "running", "done", "failed"]


class Problem(BaseModel):
    """An error, as RFC 9457 ``application/problem+json``."""

    type: str = Field(description="URI naming the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class CheckLinks(BaseModel):
    self: str
    report: str


class Check(BaseModel):
    """One check: its state and, once done, the detect and verify results."""

    id: str
    status: State
    stage: str | None = Field(None, description="while running: detect or verify")
    progress: float = Field(description="0 queued .. 1 finished")
    queue_position: int | None = Field(None, description="queued checks ahead of this one")
    filename: str
    kind: str | None = Field(None, description="image or video (sniffed from the content)")
    size: int
    created: float = Field(description="seconds since the epoch")
    started: float | None = None
    finished: float | None = None
    attempts: int
    error: str | None = Field(None, description="why a failed check failed")
    note: str | None = None
    links: CheckLinks
    result: dict[str, Any] | None = Field(
        None, description="detect (verdict, probability, detectors, timeline), heatmaps "
        "(PNG data URIs) and verify (manifest, watermark, registry, summary)"
    )


class CheckList(BaseModel):
    checks: list[Check]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    workers: int
    queued: int
    running: int


_PROGRESS = {"queued": 0.0, "starting": 0.1, "detect": 0.2, "verify": 0.75}


def check_view(job: Job, queue_position: int | None = None, *, full: bool = True) -> Check:
    """The public view of a job (``full=False`` leaves the result out, for lists)."""
    if job.state in ("done", "failed"):
        progress = 1.0
    else:
        progress = _PROGRESS.get(job.stage or job.state, 0.0)
    return Check(
        id=job.id, status=job.state, stage=job.stage, progress=progress,  # type: ignore[arg-type]
        queue_position=queue_position if job.state == "queued" else None,
        filename=job.filename, kind=job.kind, size=job.size, created=job.created,
        started=job.started, finished=job.finished, attempts=job.attempts, error=job.error,
        note=job.note, links=CheckLinks(self=f"/v1/checks/{job.id}",
                                        report=f"/v1/checks/{job.id}/report"),
        result=job.result if full else None,
    )
