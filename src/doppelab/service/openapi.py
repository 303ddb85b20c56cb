"""OpenAPI details FastAPI cannot infer: the multipart body, problem+json errors, the spec file.

The committed spec is ``docs/openapi.json``; ``doppelab serve --openapi`` prints the running
app's and a test checks the two are the same.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from doppelab.service.schemas import Problem
from doppelab.service.security import PROBLEM_MEDIA_TYPE

UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary",
                             "description": "an image or video (sniffed from its content)"}
                },
            }
        }
    },
}


def _err(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "malformed or empty upload", 401: "missing, unknown or revoked API key",
            404: "no such check for this key", 409: "the check has no report (yet)",
            413: "upload over the size, pixel or duration limit",
            415: "not multipart, or not an image or video", 422: "unreadable media or request",
            429: "rate limit or too many active checks for this key"}
    return {c: {"model": Problem, "description": text[c]} for c in codes}


ERRORS: dict[str, dict[int | str, dict[str, Any]]] = {
    "auth": _err(401, 429),
    "one": _err(401, 404, 422, 429),
    "report": _err(401, 404, 409, 422, 429),
    "upload": _err(400, 401, 413, 415, 422, 429),
}


def custom_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's spec with error responses as ``application/problem+json`` (cached)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes)
    for path in spec.get("paths", {}).values():
        for op in path.values():
            for code, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                if code.isdigit() and int(code) >= 400 and content:
                    # the model's schema, whatever media type the route's class put it under
                    resp["content"] = {PROBLEM_MEDIA_TYPE: next(iter(content.values()))}
            # FastAPI's own 422 for path parameters: make it a problem too
            if "422" in op.get("responses", {}):
                op["responses"]["422"] = {
                    "description": "invalid request",
                    "content": {PROBLEM_MEDIA_TYPE: {
                        "schema": {"$ref": "#/components/schemas/Problem"}}},
                }
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = spec
    return spec


def spec_text(app: FastAPI) -> str:
    """The spec as committed: sorted keys, two-space indent, final newline."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
