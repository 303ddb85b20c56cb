"""Running and classifying one ``doppelab`` command for ``bench/fuzz_inputs.py``.

:class:`Runner` runs a command line either in a child forked from this process after doppelab's
modules are imported (``fork``) or as the real console script (``exec``), each in a fresh output
folder (``@OUT@`` in the arguments) and a fresh ``TMPDIR``, with stdout and stderr captured at
the file-descriptor level and a wall-clock timeout that kills the child's whole process group;
an optional address-space limit (set on the runner, inherited by every run) makes a run that
would fill the memory fail alone with ``MemoryError`` instead of waking the OOM killer.
:func:`classify` names the outcome (see ``bench/fuzz_inputs.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz_corpus import Case

__all__ = ["OUT", "Run", "Runner", "classify"]

OUT = "@OUT@"
_TEMP_NAME = re.compile(r"(\.tmp|tmp|\.part|~$|^\.)", re.IGNORECASE)
# onnxruntime (>= 1.2x) keeps a telemetry session id in $TMPDIR/.ses, reused by every later
# process: a cache of the runtime's, not a file doppelab leaves half-written.
_RUNTIME_TMP = frozenset({".ses"})
_SPAM = re.compile(
    r"^\[[\w :.-]+ @ 0x|^[IWEF]\d{4} |Warning|warnings\.warn|^WARNING|^INFO|^E\d{4}|absl|"
    r"Traceback|^\s+File \"|TensorFlow|XNNPACK|inference_feedback|landmark_projection",
)
_APPLICABLE = {
    "detect": ("image", "video", "audio"), "detect --json": ("image", "video", "audio"),
    "detect --report": ("image", "video", "audio"), "detect --reference": ("audio",),
    "extract": ("image", "video"), "verify": ("image", "video"), "swap target": ("image", "video"),
    "swap source": ("image",), "extract --identity": ("image",),
}


@dataclass
class Run:
    """What one command did."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    left_behind: list[str] = field(default_factory=list)


def classify(run: Run, case: Case | None, command: str) -> str:
    """OK, TYPED, CRASH, LEAK, NOISY, REJECT or WRONG (see ``bench/fuzz_inputs.py``)."""
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    if run.timed_out or run.code < 0 or run.code == 1 or "Traceback (most recent" in run.stderr:
        return "CRASH"
    if run.left_behind:
        return "LEAK"
    if run.code == 0:
        if any(_SPAM.search(ln) for ln in lines):
            return "NOISY"
        if (case is not None and case.valid and not case.face and command.startswith("detect")
                and command != "detect --reference" and "likely real" in run.stdout
                and case.family in ("image", "video")):
            return "WRONG"
        return "OK"
    if len(lines) != 1 or not lines[0].startswith("doppelab "):
        return "NOISY"
    folder_ok = command in ("detect", "detect --json", "detect --report", "extract")
    if (case is not None and case.valid and run.code == 3
            and case.family in _APPLICABLE.get(command, ())
            and (folder_ok or not case.path.is_dir())):
        return "REJECT"
    return "TYPED"


def _tree(root: Path, skip: set[Path]) -> set[str]:
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        found.update(os.fsdecode(here / name) for name in filenames + dirnames)
    return found


def _import_stages() -> None:
    """Import every module of the stages the commands use (torch, MediaPipe, ONNX Runtime come
    with them), so each forked run starts warm, as a long-lived process would."""
    import importlib
    import pkgutil

    import doppelab

    for info in pkgutil.walk_packages(doppelab.__path__, "doppelab."):
        stage = info.name.split(".")[1]
        if stage not in ("core", "extract", "audio", "swap", "detect", "provenance", "cli"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # recorded as import noise, the campaign goes on
            print(f"preimport {info.name}: {type(exc).__name__}: {exc}", file=sys.stderr)


class Runner:
    """Runs doppelab command lines one at a time (see the module docstring)."""

    def __init__(self, mode: str, timeout: float, root: Path, memory_gb: float = 0.0) -> None:
        self.mode, self.timeout, self.root = mode, timeout, root
        self.count = 0
        if memory_gb > 0:  # inherited by every run: a blow-up fails there (a CRASH), alone
            limit = int(memory_gb * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        self.import_noise: list[str] = []
        os.environ["DOPPELAB_HOME"] = str(root / "home")
        os.environ.pop("DOPPELAB_REGISTRY", None)
        os.nice(10)
        if mode == "fork":
            self._preimport()
        keys = self.run(["keys", "init"])
        if keys.code != 0:
            raise SystemExit(f"keys init failed: {keys.stderr}")

    def _preimport(self) -> None:
        """Import doppelab's command modules once, with stderr noise of the imports kept."""
        with tempfile.TemporaryFile() as err:
            saved = os.dup(2)
            os.dup2(err.fileno(), 2)
            try:
                from doppelab.cli.main import build_parser

                build_parser()
                _import_stages()
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
            err.seek(0)
            self.import_noise = err.read().decode(errors="replace").splitlines()

    def run(self, argv: list[str]) -> Run:
        """Run ``doppelab ARGV`` (``@OUT@`` replaced by a fresh folder) and record it."""
        self.count += 1
        out, tmp = (self.root / d / f"{self.count:04d}" for d in ("out", "tmp"))
        out.mkdir(parents=True)
        tmp.mkdir(parents=True)
        argv = [a.replace(OUT, str(out)) for a in argv]
        skip = {self.root / "out", self.root / "tmp", self.root / "home"}
        before = _tree(self.root, skip)
        started = time.monotonic()
        code, stdout, stderr, timed_out = (self._fork if self.mode == "fork" else self._exec)(
            argv, out, tmp)
        run = Run(argv, code, stdout, stderr, time.monotonic() - started, timed_out)
        made = sorted(os.fsdecode(p) for p in out.rglob("*")) + sorted(
            _tree(self.root, skip) - before)
        if code == 0:  # the outputs are wanted; only temporaries count
            made = [p for p in made if _TEMP_NAME.search(Path(p).name)]
        in_tmp = [os.fsdecode(p) for p in tmp.rglob("*") if p.name not in _RUNTIME_TMP]
        run.left_behind = made + sorted(in_tmp)
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return run

    def _fork(self, argv: list[str], out: Path, tmp: Path) -> tuple[int, str, str, bool]:
        streams = [tmp.parent / f"{tmp.name}.{s}" for s in ("stdout", "stderr")]
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._child(argv, out, tmp, streams)
        code, timed_out = self._wait(pid)
        texts = [s.read_bytes().decode(errors="replace") for s in streams]
        for s in streams:
            s.unlink()
        return code, texts[0], texts[1], timed_out

    @staticmethod
    def _child(argv: list[str], out: Path, tmp: Path, streams: list[Path]) -> None:
        code = 1
        try:
            os.setpgid(0, 0)
            for fd, path in zip((1, 2), streams, strict=True):
                handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(handle, fd)
                os.close(handle)
            os.chdir(out)
            os.environ["TMPDIR"] = str(tmp)
            tempfile.tempdir = str(tmp)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from doppelab.cli.main import main

            code = main(argv)
        except SystemExit as exc:  # argparse, or sys.exit in the command
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            try:
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _wait(self, pid: int) -> tuple[int, bool]:
        deadline = time.monotonic() + self.timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), False
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return -9, True
            time.sleep(0.02)

    def _exec(self, argv: list[str], out: Path, tmp: Path) -> tuple[int, str, str, bool]:
        exe = Path(sys.executable).with_name("doppelab")
        env = {**os.environ, "TMPDIR": str(tmp)}
        if env.get("PYTHONPATH"):  # the run's folder is its working directory: no relative paths
            env["PYTHONPATH"] = os.pathsep.join(
                os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep) if p)
        try:
            done = subprocess.run([str(exe), *(os.fsencode(a) for a in argv)], cwd=out, env=env,
                                  capture_output=True, timeout=self.timeout,
                                  start_new_session=True, check=False)
        except subprocess.TimeoutExpired as exc:
            return -9, (exc.stdout or b"").decode(errors="replace"), \
                (exc.stderr or b"").decode(errors="replace"), True
        return (done.returncode, done.stdout.decode(errors="replace"),
                done.stderr.decode(errors="replace"), False)


def count_table(records: list[dict[str, Any]], classes: tuple[str, ...],
                detail: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, int]]:
    """Outcome counts per command and in all (``ALL``), printed as a table, then every outcome
    that is not OK, TYPED or SKIPPED with ``detail(record)``."""
    counts: dict[str, Counter[str]] = {}
    for r in records:
        counts.setdefault(r["command"], Counter())[r["class"]] += 1
    table = {cmd: dict(c) for cmd, c in sorted(counts.items())}
    table["ALL"] = dict(Counter(r["class"] for r in records))
    cols = [*classes, "SKIPPED"]
    print(f"\n{'command':22}" + "".join(f"{c:>8}" for c in cols))
    for cmd, c in table.items():
        print(f"{cmd:22}" + "".join(f"{c.get(k, 0):>8}" for k in cols))
    for r in records:
        if r["class"] not in ("OK", "TYPED", "SKIPPED"):
            print(f"  {r['class']:6} {r['command']:20} {r['case']}: {detail(r)}")
    return table


def save_phase(out: Path, phase: str, entry: dict[str, Any]) -> None:
    """Write ``entry`` as block ``phase`` of the JSON results file ``out`` (other blocks kept;
    written to a temporary file, then renamed)."""
    result = json.loads(out.read_text()) if out.exists() else {}
    result[phase] = entry
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8",
                   errors="backslashreplace")
    tmp.replace(out)
