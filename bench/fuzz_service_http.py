"""The ``serve`` phase of ``bench/fuzz_service.py``: corpus uploads and API abuse over HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from fuzz_corpus import Case
from service import free_port

ROOT = Path(__file__).resolve().parents[1]
_TRACE = re.compile(r"Traceback \(most recent|File \"/")
POLL_S, CHECK_TIMEOUT_S = 0.5, 180.0


def multipart(data: bytes, filename: bytes = b"x.bin", name: bytes = b"file",
              boundary: bytes = b"fuzzbnd") -> tuple[bytes, str]:
    """A multipart body with one part; the file name is sent as raw bytes."""
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name
            + b'"; filename="' + filename + b'"\r\nContent-Type: application/octet-stream'
            b"\r\n\r\n")
    return head + data + b"\r\n--" + boundary + b"--\r\n", \
        f"multipart/form-data; boundary={boundary.decode()}"


class Server:
    """``doppelab serve`` in a child with its own DOPPELAB_HOME and TMPDIR."""

    def __init__(self, work: Path, workers: int = 2) -> None:
        self.work, self.home, self.tmp = work, work / "home", work / "tmp"
        for d in (self.home, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        src = os.environ.get("DOPPELAB_FUZZ_SRC") or str(ROOT / "src")
        self.env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1",
                    "DOPPELAB_HOME": str(self.home), "TMPDIR": str(self.tmp)}
        key = subprocess.run([sys.executable, "-m", "doppelab", "keys", "api", "create",
                              "--name", "fuzz"], env=self.env, capture_output=True, text=True,
                             check=True)
        self.key = re.search(r"dpl_[\w-]+", key.stdout + key.stderr).group(0)  # type: ignore
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / "server.log"
        cmd = [sys.executable, "-m", "doppelab", "serve", "--port", str(self.port),
               "--workers", str(workers), "--rate", "100000", "--burst", "100000",
               "--log-level", "warning"]
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.client = httpx.Client(base_url=self.base, timeout=60.0)
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end:
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError(f"server did not start; see {self.log}")

    @property
    def data(self) -> Path:
        return self.home / "service"

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        self.client.close()
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def _problem_ok(r: httpx.Response) -> str:
    """'' when ``r`` is a clean 4xx problem+json, else what is wrong."""
    if r.headers.get("content-type", "") != "application/problem+json":
        return f"content-type {r.headers.get('content-type')}"
    detail = str(r.json().get("detail", ""))
    return "multi-line detail" if "\n" in detail else ""


def _classify_text(text: str, srv: Server) -> str | None:
    if _TRACE.search(text):
        return "CRASH"
    if str(srv.work) in text or str(srv.data) in text:
        return "LEAK"
    return None


def check_case(srv: Server, case: Case) -> dict[str, Any]:
    """Upload one corpus case and follow it to the end."""
    rec: dict[str, Any] = {"case": case.name, "command": "serve upload"}
    data = case.path.read_bytes()
    body, ctype = multipart(data, os.fsencode(case.path.name))
    t0 = time.monotonic()
    try:
        r = srv.client.post("/v1/checks", content=body,
                            headers={**srv.auth(), "Content-Type": ctype})
    except httpx.HTTPError as exc:
        return {**rec, "class": "CRASH", "detail": f"upload: {type(exc).__name__}: {exc}"}
    rec.update(upload_status=r.status_code)
    bad = _classify_text(r.text, srv)
    if bad or r.status_code >= 500:
        return {**rec, "class": bad or "CRASH", "detail": r.text[:300]}
    if r.status_code != 202:
        why = _problem_ok(r)
        rec["detail"] = r.text[:300]
        return {**rec, "class": "CRASH" if why else _refused(case)}
    job = r.json()["id"]
    rec.update(status=_poll(srv, job), id=job, seconds=round(time.monotonic() - t0, 1))
    return _finish(srv, case, rec, job)


def _refused(case: Case) -> str:
    """A valid image or video must be checked; anything else may be refused."""
    return "REJECT" if case.valid and case.family in ("image", "video") else "TYPED"


def _poll(srv: Server, job: str) -> str:
    t_end = time.monotonic() + CHECK_TIMEOUT_S
    while time.monotonic() < t_end:
        try:
            r = srv.client.get(f"/v1/checks/{job}", headers=srv.auth())
        except httpx.HTTPError:
            return "connection lost"
        if r.status_code != 200:
            return f"http {r.status_code}"
        state = r.json()["status"]
        if state in ("done", "failed"):
            return state
        time.sleep(POLL_S)
    return "hang"


def _finish(srv: Server, case: Case, rec: dict[str, Any], job: str) -> dict[str, Any]:
    if rec["status"] not in ("done", "failed"):
        return {**rec, "class": "CRASH", "detail": f"check ended as {rec['status']}"}
    body = srv.client.get(f"/v1/checks/{job}", headers=srv.auth())
    report = srv.client.get(f"/v1/checks/{job}/report", headers=srv.auth())
    text = body.text + (report.text if report.status_code != 200 else "")
    bad = _classify_text(text, srv)
    if bad or body.status_code >= 500 or report.status_code >= 500:
        return {**rec, "class": bad or "CRASH", "detail": text[:300]}
    check = body.json()
    if rec["status"] == "failed":
        err = str(check.get("error") or "")
        rec["detail"] = err[:300]
        if not err or "\n" in err or report.status_code != 409 or _problem_ok(report):
            return {**rec, "class": "CRASH", "detail": f"failed without a clean reason: {err!r} "
                    f"report {report.status_code}"}
        return {**rec, "class": _refused(case)}
    verdict = str(((check.get("result") or {}).get("detect") or {}).get("verdict"))
    rec["detail"] = verdict
    if report.status_code != 200 or "<html" not in report.text[:500].lower():
        return {**rec, "class": "CRASH", "detail": f"done but report {report.status_code}"}
    if (case.valid and not case.face and case.family in ("image", "video")
            and verdict == "likely real"):
        return {**rec, "class": "WRONG"}
    return {**rec, "class": "OK"}


def _abuse(srv: Server) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, method + path, httpx request kwargs) of requests that must get a clean 4xx."""
    jpg = (srv.work.parent / "base").glob("*.jpg")
    img = next(iter(sorted(jpg))).read_bytes()
    good, ctype = multipart(img, b"a.jpg")
    mp = {"content": good, "headers": {**srv.auth(), "Content-Type": ctype}}
    yield "no API key", "POST /v1/checks", {**mp, "headers": {"Content-Type": ctype}}
    yield "invalid API key", "POST /v1/checks", {
        **mp, "headers": {**srv.auth("dpl_not-a-key"), "Content-Type": ctype}}
    yield "non-ASCII API key", "GET /v1/checks", {"headers": {
        "Authorization": "Bearer dpl_\xe9\xe9".encode("latin-1")}}
    yield "Basic auth", "GET /v1/checks", {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}
    yield "JSON body", "POST /v1/checks", {"content": b'{"file": "x"}', "headers": {
        **srv.auth(), "Content-Type": "application/json"}}
    yield "no content type", "POST /v1/checks", {"content": good, "headers": srv.auth()}
    yield "urlencoded form", "POST /v1/checks", {"content": b"file=abc", "headers": {
        **srv.auth(), "Content-Type": "application/x-www-form-urlencoded"}}
    other, ct = multipart(img, b"a.jpg", name=b"image")
    yield "multipart without file part", "POST /v1/checks", {
        "content": other, "headers": {**srv.auth(), "Content-Type": ct}}
    empty, ct = multipart(b"", b"a.jpg")
    yield "empty file part", "POST /v1/checks", {
        "content": empty, "headers": {**srv.auth(), "Content-Type": ct}}
    yield "body cut mid-part", "POST /v1/checks", {
        "content": good[: len(good) // 2], "headers": {**srv.auth(), "Content-Type": ctype}}
    yield "over the upload cap (streamed)", "POST /v1/checks", {
        "content": _streamed(100 * 1024 * 1024 + 4096), "headers": {
            **srv.auth(), "Content-Type": "multipart/form-data; boundary=fuzzbnd"}}
    for cid in ("nonexistent0000000", "../../etc/passwd", "%00", "x" * 5000, "' OR 1=1 --",
                "%ff%fe"):
        for verb in ("GET", "DELETE"):
            yield f"check id {cid[:20]!r}", f"{verb} /v1/checks/{cid}", {"headers": srv.auth()}
        yield f"report of id {cid[:20]!r}", f"GET /v1/checks/{cid}/report", {
            "headers": srv.auth()}


def _streamed(total: int) -> Iterator[bytes]:
    yield b'--fuzzbnd\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
    chunk = b"\0" * (1 << 20)
    for _ in range(total // len(chunk) + 1):
        yield chunk
    yield b"\r\n--fuzzbnd--\r\n"


# odd file names on a valid upload: accepted (the name is only displayed) and shown cleaned
NAMES = {"path traversal": b"../../etc/passwd", "slash": b"a/b.jpg", "NUL byte": b"a\0b.jpg",
         "non-UTF-8": b"astro_\xff\xfe.jpg", "huge (64 KiB)": b"n" * 65536 + b".jpg",
         "CR LF": b"a\r\nX-Injected: 1.jpg", "quote": b'a".jpg', "empty": b"",
         "windows path": b"C:\\Users\\x\\a.jpg", "dot": b".", "RTL override": "a\u202egpj.exe"
         .encode()}


def run_abuse(srv: Server) -> list[dict[str, Any]]:
    out = []
    for name, target, kw in _abuse(srv):
        method, path = target.split(" ", 1)
        rec: dict[str, Any] = {"case": name, "command": f"serve api {method}"}
        try:
            r = srv.client.request(method, path, **kw)
        except Exception as exc:  # any client-side failure is recorded
            cls = "OK" if srv.alive() and "cap" in name else "CRASH"
            out.append({**rec, "class": cls, "detail": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        bad = _classify_text(r.text, srv)
        cls = bad or ("CRASH" if r.status_code >= 500 else "WRONG" if r.status_code < 400
                      else "CRASH" if _problem_ok(r) else "TYPED")
        out.append({**rec, "class": cls, "status": r.status_code, "detail": r.text[:200]})
    out.append(_declared_too_large(srv))
    img = next(iter(sorted((srv.work.parent / "base").glob("*.jpg")))).read_bytes()
    for label, raw in NAMES.items():
        body, ctype = multipart(img, raw)
        rec = {"case": f"file name {label}", "command": "serve api names"}
        try:
            r = srv.client.post("/v1/checks", content=body,
                                headers={**srv.auth(), "Content-Type": ctype})
        except httpx.HTTPError as exc:
            out.append({**rec, "class": "CRASH", "detail": str(exc)[:200]})
            continue
        if r.status_code >= 500 or _classify_text(r.text, srv):
            out.append({**rec, "class": "CRASH", "status": r.status_code, "detail": r.text[:200]})
            continue
        if r.status_code != 202:
            out.append({**rec, "class": "CRASH" if _problem_ok(r) else "TYPED",
                        "status": r.status_code, "detail": r.text[:200]})
            continue
        shown = r.json().get("filename", "")
        cls = "WRONG" if any(c in shown for c in "/\\\0\r\n") or len(shown) > 200 else "OK"
        out.append({**rec, "class": cls, "status": 202, "detail": repr(shown)[:200]})
    return out


def _declared_too_large(srv: Server) -> dict[str, Any]:
    """A Content-Length of 200 MiB over a raw socket: the answer must come before the body."""
    import socket

    rec: dict[str, Any] = {"case": "over the upload cap (declared)", "command": "serve api POST"}
    head = (f"POST /v1/checks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {srv.key}"
            "\r\nContent-Type: multipart/form-data; boundary=fuzzbnd\r\n"
            f"Content-Length: {200 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
        sock.sendall(head + b"--fuzzbnd\r\n")
        try:
            answer = sock.recv(4096).decode("latin-1")
        except OSError as exc:
            return {**rec, "class": "CRASH", "detail": f"no answer: {exc}"}
    status = int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/") else 0
    cls = "TYPED" if status == 413 else "CRASH" if status >= 500 or not status else "WRONG"
    return {**rec, "class": cls, "status": status, "detail": answer[:200]}


def _leftovers(srv: Server) -> list[str]:
    """Temporary or stray files in the service's folders and TMPDIR."""
    found = [str(p.relative_to(srv.work)) for p in srv.tmp.rglob("*")
             if p.is_file() and p.name != ".ses"]
    for sub in ("uploads", "reports"):
        found += [f"{sub}/{p.name}" for p in (srv.data / sub).iterdir()]
    return found


def phase_serve(cases: list[Case], work: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    srv = Server(work)
    records: list[dict[str, Any]] = []
    facts: dict[str, Any] = {"port": srv.port}
    try:
        for case in cases:
            if case.skip or not case.path.is_file():
                records.append({"case": case.name, "command": "serve upload", "class": "SKIPPED",
                                "detail": case.skip or "not a regular file: nothing to upload"})
                continue
            if not srv.alive():
                records.append({"case": case.name, "command": "serve upload", "class": "CRASH",
                                "detail": "server is gone"})
                continue
            records.append(check_case(srv, case))
            r = records[-1]
            print(f"{r['class']:6} {r.get('seconds', 0):6.1f}s serve {case.name}: "
                  f"{str(r.get('detail', ''))[:90]}", flush=True)
        records += run_abuse(srv)
        for r in records[-40:]:
            if r["command"].startswith("serve api"):
                print(f"{r['class']:6} {r['command']:18} {r['case']}: {r.get('status')}",
                      flush=True)
        records += _after(srv, cases)
    finally:
        code = srv.stop()
    log = srv.log.read_text(errors="replace")
    traces = len(re.findall(r"Traceback \(most recent", log))
    facts.update(exit_code=code, log_tracebacks=traces, log_tail=log[-2000:])
    records.append({"case": "server log", "command": "serve after",
                    "class": "CRASH" if traces else "OK", "detail": f"{traces} tracebacks"})
    return records, facts


def _after(srv: Server, cases: list[Case]) -> list[dict[str, Any]]:
    out = []
    valid = next(c for c in cases if c.name == "valid_astro.jpg") if any(
        c.name == "valid_astro.jpg" for c in cases) else None
    if valid is not None:
        rec = check_case(srv, valid)
        out.append({**rec, "case": "normal check after the campaign", "command": "serve after"})
    time.sleep(1.0)
    stray = [p for p in _leftovers(srv) if "/.incoming-" in p or p.startswith("tmp/")]
    uploads, _ = _owned(srv)
    stray += [f"uploads/{n}" for n in os.listdir(srv.data / "uploads") if n not in uploads]
    out.append({"case": "stray files after the campaign", "command": "serve after",
                "class": "LEAK" if stray else "OK", "detail": ", ".join(stray)[:300]})
    ids = [c["id"] for c in srv.client.get("/v1/checks", headers=srv.auth()).json()["checks"]]
    while ids:
        for i in ids:
            srv.client.delete(f"/v1/checks/{i}", headers=srv.auth())
        ids = [c["id"] for c in srv.client.get("/v1/checks", headers=srv.auth()).json()["checks"]]
    left = _leftovers(srv)
    out.append({"case": "files left after deleting every check", "command": "serve after",
                "class": "LEAK" if left else "OK", "detail": ", ".join(left)[:300]})
    return out


def _owned(srv: Server) -> tuple[set[str], set[str]]:
    import sqlite3

    with sqlite3.connect(srv.data / "service.sqlite") as db:
        rows = db.execute("SELECT upload, id FROM jobs").fetchall()
    return {r[0] for r in rows}, {r[1] for r in rows}
