"""The ``batch`` phase of ``bench/fuzz_service.py``: the corpus through ``doppelab batch``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fuzz_corpus import Case

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))
FRAMES = "8"


def _env(work: Path) -> dict[str, str]:
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    src = os.environ.get("DOPPELAB_FUZZ_SRC") or str(ROOT / "src")
    return {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1",
            "DOPPELAB_HOME": str(work / "home"), "TMPDIR": str(tmp), "NO_COLOR": "1"}


def _cmd(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "doppelab", "batch", str(source), "-o", str(out),
            "--workers", "2", "--frames", FRAMES, "--json"]


def _rows(out: Path) -> list[dict[str, Any]]:
    if out.suffix == ".jsonl":
        return [json.loads(ln) for ln in out.read_text(encoding="utf-8").splitlines() if ln]
    import pyarrow.parquet as pq

    return pq.read_table(out).to_pylist()


def _listed(source: Path) -> list[str]:
    from doppelab.core.storage import utf8_safe
    from doppelab.scale.batch import list_inputs

    return [utf8_safe(str(p)) for p in list_inputs(source)]


def _judge(name: str, proc: subprocess.CompletedProcess[str] | None, out: Path,
           source: Path, work: Path, code: int = 0) -> list[dict[str, Any]]:
    """Records for one finished batch run: exit code, file, rows, leftovers."""
    cmd = f"batch {out.suffix[1:]}"
    base = {"case": name, "command": cmd}
    if proc is not None and (proc.returncode != code or "Traceback" in proc.stderr):
        return [{**base, "class": "CRASH", "detail": f"exit {proc.returncode}: "
                 f"{proc.stderr[-300:]}"}]
    try:
        rows = _rows(out)
    except Exception as exc:
        return [{**base, "class": "CRASH", "detail": f"output unreadable: {exc}"}]
    want = _listed(source)
    paths = [r["path"] for r in rows]
    recs = []
    dup = len(paths) - len(set(paths))
    lost = set(want) - set(paths)
    if dup or lost:
        recs.append({**base, "class": "WRONG", "detail": f"{dup} duplicate rows, {len(lost)} "
                     f"lost: {sorted(lost)[:3]}"})
    for r in rows:
        err = r.get("error") or ""
        bad = (r.get("status") not in ("ok", "error") or (r["status"] == "error" and not err)
               or "\n" in err or "internal error" in err)
        cls = "CRASH" if bad else "OK" if r["status"] == "ok" else "TYPED"
        recs.append({"case": f"{name}: {Path(r['path']).name}", "command": f"{cmd} row",
                     "class": cls, "detail": err[:200] or str(r.get("verdict"))})
    # Ray keeps its session folder (logs, ports) in $TMPDIR/ray after every run, by design
    left = [str(p.relative_to(work)) for p in work.rglob("*") if p.is_file()
            and p != out and p.name != ".ses" and not p.name.endswith((".csv", ".log"))
            and not {"home", "ray"} & set(p.relative_to(work).parts)]
    recs.append({**base, "class": "LEAK" if left else "OK",
                 "detail": f"{len(rows)} rows; left behind: {left[:5]}"})
    return recs


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted(source: Path, work: Path, out: Path, sig: int) -> list[dict[str, Any]]:
    """Stop a run with ``sig`` after a few rows are journalled, then resume it."""
    from doppelab.scale.results import journal_path

    env = _env(work)
    journal = journal_path(out)
    name = f"{signal.Signals(sig).name} part-way, resumed"
    with open(work / f"{sig}.log", "w") as log:
        # a shell's background job starts with SIGINT ignored: give the run the default back
        proc = subprocess.Popen(_cmd(source, out), env=env, stdout=log, stderr=log, text=True,
                                start_new_session=True, preexec_fn=_default_sigint)
        t_end = time.monotonic() + 300
        while time.monotonic() < t_end and proc.poll() is None:
            if journal.exists() and journal.read_bytes().count(b"\n") >= 4:
                break
            time.sleep(0.2)
        os.kill(proc.pid, sig)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return [{"case": name, "command": f"batch {out.suffix[1:]}", "class": "CRASH",
                     "detail": "did not stop within 60 s of the signal"}]
    rows = journal.read_bytes().count(b"\n") if journal.exists() else 0
    out_ok = out.suffix == ".jsonl" or not out.exists()  # no final Parquet from a stopped run
    recs = [{"case": f"{name}: stop", "command": f"batch {out.suffix[1:]}",
             "class": "OK" if code == 130 and out_ok else "CRASH",
             "detail": f"exit {code}, {rows} rows journalled, final file "
                       f"{'present' if out.exists() and out.suffix != '.jsonl' else 'absent'}"}]
    time.sleep(2.0)
    proc2 = subprocess.run(_cmd(source, out), env=env, capture_output=True, text=True,
                           timeout=1800)
    return recs + _judge(name, proc2, out, source, work)


def _bad_sources(work: Path, folder: Path) -> list[dict[str, Any]]:
    """Sources that are not a usable list: each must end with one typed error line."""
    work.mkdir(parents=True, exist_ok=True)
    garbage = work / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 8)
    latin = work / "latin1.csv"
    latin.write_bytes(b"path\n" + os.fsencode(folder) + b"/caf\xe9.jpg\n")
    empty = work / "empty.csv"
    empty.write_bytes(b"")
    recs = []
    for src in (garbage, latin, empty, folder / "valid_astro.jpg", work / "missing_dir",
                folder / "empty_dir"):
        out = work / "out" / "r.parquet"
        proc = subprocess.run(_cmd(src, out), env=_env(work), capture_output=True, text=True,
                              timeout=600)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        typed = proc.returncode in (0, 2, 3, 4) and "Traceback" not in proc.stderr and (
            proc.returncode == 0 or (len(lines) == 1 and lines[0].startswith("doppelab batch")))
        recs.append({"case": f"source {src.name}", "command": "batch source",
                     "class": ("OK" if proc.returncode == 0 else "TYPED") if typed else "CRASH",
                     "detail": f"exit {proc.returncode}: {(lines or [''])[-1][:200]}"})
        shutil.rmtree(work / "out", ignore_errors=True)
    return recs


def phase_batch(cases: list[Case], folder: Path, work: Path
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    env = _env(work)
    records: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    t0 = time.monotonic()
    out = work / "all" / "results.parquet"
    proc = subprocess.run(_cmd(folder, out), env=env, capture_output=True, text=True, timeout=3600)
    facts["folder_seconds"] = round(time.monotonic() - t0, 1)
    facts["folder_summary"] = proc.stdout.strip()[-500:]
    records += _judge("corpus folder", proc, out, folder, work / "all")
    lst = work / "list" / "list.csv"
    lst.parent.mkdir(parents=True, exist_ok=True)
    valid = [c.path for c in cases if c.valid and c.family == "image" and c.path.is_file()][:3]
    rows = ["path", *map(str, valid), str(valid[0]), str(valid[0]), "does/not/exist.jpg",
            str(folder / "missing_too.mp4"), str(folder), "", str(folder / "empty.mp4")]
    lst.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = work / "list" / "results.jsonl"
    proc = subprocess.run(_cmd(lst, out), env=env, capture_output=True, text=True, timeout=1800)
    records += _judge("CSV list", proc, out, lst, work / "list")
    records += _bad_sources(work / "bad", folder)
    small = work / "small"
    small.mkdir(exist_ok=True)
    for c in cases:
        if c.valid and c.family in ("image", "video") and c.path.is_file() and len(
                list(small.iterdir())) < 10:
            (small / c.path.name).write_bytes(c.path.read_bytes())
    for sig, suffix in ((signal.SIGINT, ".parquet"), (signal.SIGTERM, ".jsonl")):
        sub = work / f"int_{sig.name}"
        sub.mkdir(exist_ok=True)
        records += _interrupted(small, sub, sub / f"results{suffix}", sig)
    return records, facts
