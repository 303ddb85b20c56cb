"""Restart loses nothing; retention removes old checks; the committed spec is the app's."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from fastapi.testclient import TestClient

from doppelab.cli.main import main
from doppelab.service.openapi import spec_text
from doppelab.service.store import Store
from tests.service.conftest import bearer, make_app, wait_done

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _post(client: TestClient, key: str, video: Path) -> str:
    with open(video, "rb") as fh:
        r = client.post("/v1/checks", headers=bearer(key), files={"file": ("v.mp4", fh)})
    assert r.status_code == 202
    return str(r.json()["id"])


def test_restart_runs_queued_and_retries_running(tmp_path: Path, astronaut_video: Path) -> None:
    first = make_app(tmp_path)
    store: Store = first.state.service.store
    _, key = store.create_key("k")
    down = TestClient(first)  # lifespan not entered: no worker pool, jobs stay queued
    queued, interrupted, twice = (_post(down, key, astronaut_video) for _ in range(3))
    # simulate a kill -9 while two checks ran: one on its first try, one already retried once
    for job_id, attempts in ((interrupted, 0), (twice, 1)):
        store._db.execute("UPDATE jobs SET state='running', stage='detect', attempts=? "
                          "WHERE id=?", (attempts + 1, job_id))
    store.close()
    second = make_app(tmp_path)
    with TestClient(second) as client:
        a, b = (wait_done(client, j, key) for j in (queued, interrupted))
        c = client.get(f"/v1/checks/{twice}", headers=bearer(key)).json()
    assert a["status"] == "done" and a["attempts"] == 1
    assert b["status"] == "done" and b["attempts"] == 2 and "restart" in b["note"]
    assert c["status"] == "failed" and "twice" in c["error"]


def test_retention_sweep(tmp_path: Path, astronaut_video: Path) -> None:
    app = make_app(tmp_path, retention_s=0.5)
    store: Store = app.state.service.store
    _, key = store.create_key("k")
    client = TestClient(app)
    job_id = _post(client, key, astronaut_video)
    assert len(list(store.uploads.iterdir())) == 1
    time.sleep(0.6)
    from doppelab.service.runner import Dispatcher

    disp = Dispatcher(store, app.state.service.cfg.runner)
    stray = store.uploads / "0123abcd.mp4"  # saved, then the server died before the job row
    stray.write_bytes(b"x")
    fresh = store.reports / "someone.html"
    fresh.write_bytes(b"x")
    os.utime(stray, (time.time() - 7200, time.time() - 7200))
    assert disp.sweep() == 1
    assert list(store.uploads.iterdir()) == []
    assert client.get(f"/v1/checks/{job_id}", headers=bearer(key)).status_code == 404
    assert fresh.exists()  # an unowned file is only removed once it is an hour old


def test_committed_openapi_matches_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert SPEC.read_text() == spec_text(app), "regenerate: doppelab serve --openapi > " \
        "docs/openapi.json"
    spec = json.loads(SPEC.read_text())
    assert {"/v1/checks", "/v1/checks/{check_id}", "/v1/checks/{check_id}/report",
            "/healthz"} <= set(spec["paths"])
    err = spec["paths"]["/v1/checks/{check_id}"]["get"]["responses"]["404"]["content"]
    assert list(err) == ["application/problem+json"]


def test_cli_api_keys(capsys: object) -> None:
    assert main(["keys", "api", "create", "--name", "desk", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert made["key"].startswith("dpl_") and made["name"] == "desk"
    assert main(["keys", "api", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert [k["id"] for k in listed] == [made["id"]] and listed[0]["revoked"] is None
    assert made["key"] not in json.dumps(listed)
    store = Store()
    assert store.key_for_token(made["key"]) is not None
    assert made["key"] not in (store.root / "service.sqlite").read_bytes().decode("latin-1")
    assert main(["keys", "api", "revoke", "desk"]) == 0
    assert store.key_for_token(made["key"]).revoked is not None  # type: ignore[union-attr]
    assert main(["keys", "api", "revoke", "nobody"]) == 2
    assert main(["keys", "api", "create", "--name", "desk"]) == 2  # names are unique


def test_dead_worker_process_fails_one_call_and_pool_recovers(tmp_path: Path) -> None:
    import asyncio

    from doppelab.service.runner import Dispatcher, RunnerConfig

    async def go() -> tuple[dict, dict]:
        disp = Dispatcher(Store(tmp_path), RunnerConfig(workers=1, pool="process"))
        try:
            crashed = await disp._call(os._exit, 9)  # the worker process dies mid-call
            after = await disp._call(dict, [("ok", True)])
        finally:
            disp.executor.shutdown(wait=True)
        return crashed, after

    crashed, after = asyncio.run(go())
    assert crashed == {"error": "the worker processing this file crashed"}
    assert after == {"ok": True}


def test_pool_workers_leave_ctrl_c_to_the_server(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: workers ignore it (no KeyboardInterrupt
    traceback on the server's stderr) and stop() ends them without waiting for their checks."""
    import asyncio
    import signal

    from doppelab.service.runner import Dispatcher, RunnerConfig

    async def go() -> tuple[object, list]:
        disp = Dispatcher(Store(tmp_path), RunnerConfig(workers=1, pool="process"))
        handler = await disp._call(signal.getsignal, signal.SIGINT)
        procs = list(disp.executor._processes.values())  # type: ignore[attr-defined]
        busy = asyncio.get_running_loop().run_in_executor(disp.executor, time.sleep, 60)
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await disp.stop()
        for p in procs:
            p.join(10)
        assert time.monotonic() - t0 < 10
        busy.cancel()
        return handler, procs

    handler, procs = asyncio.run(go())
    assert handler == signal.SIG_IGN
    assert procs and not any(p.is_alive() for p in procs)
