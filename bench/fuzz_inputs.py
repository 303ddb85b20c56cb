"""Robustness fuzz campaign: every media-reading ``doppelab`` command on broken and unusual files.

The corpus (``bench/fuzz_corpus.py``) is made in a temporary folder from tiny generated media
(scikit-image's astronaut, synthetic video and audio); the shared data set is never read. Each
command runs once per case, one at a time, under ``nice`` with a per-run timeout, and each run is
classified:

* ``OK``: exit 0, a clean result (stderr holds nothing but doppelab's own lines);
* ``TYPED``: non-zero exit with exactly one line ``doppelab CMD: error: ...`` on stderr;
* ``CRASH``: a traceback, exit code 1 (internal error), a signal or a timeout;
* ``LEAK``: a file left in the output folder by a failed run, or a temporary file left behind;
* ``NOISY``: a correct exit but extra stderr lines (FFmpeg, absl, Python warnings, ...);
* ``REJECT``: a valid, merely unusual file refused as bad input (exit 3);
* ``WRONG``: ``detect`` calls a picture without a face "likely real", or an output path that
  was a device node or a FIFO is a regular file after the run (round 5).

Runs are forked from one process that has imported doppelab once (``--mode fork``, the default:
start-up is paid once, stdout/stderr are redirected at the file-descriptor level so FFmpeg's C
logs are caught too); ``--mode exec`` runs the real console script per case (slower, also
catches import-time noise). The JSON keeps one block per ``--phase`` (``before``/``after``), so
a rerun after fixes sits beside the first run.

Usage: python bench/fuzz_inputs.py [--phase after] [--mode fork|exec] [--timeout 120]
       [--memory-gb 12] [--only REGEX] [--work DIR] [--out bench/results/fuzz.json]

The ``before`` block of the shipped JSON ran the code of commit 37517b9 (``git archive 37517b9
src`` unpacked elsewhere and put first on ``PYTHONPATH``); ``after`` the fixed code. The
``*_strict_locale`` blocks ran with ``PYTHONIOENCODING=utf-8:strict`` (what a en_US.UTF-8
locale gives), which the non-UTF-8 file name needs to show its printing crash.
``round3_before``/``round3_after`` ran only the round-3 cases (``--only '^r3_'``, made by
``bench/fuzz_corpus3.py``): before on the code of commit 527bd5a, after on the fixed code.
``round4_before``/``round4_after`` ran the round-4 cases and output/eval runs (``--only '^r4_'``,
``bench/fuzz_corpus4.py``): before on the code of commit 4f2c9c5 (the 4 cases whose making was
corrected afterwards, EXIF orientations 3/5/8 and the 300-frame GIF, rerun on that code and
merged in), after on the fixed code; ``rounds12_recheck_s18`` and ``round3_recheck_s18`` reran
the earlier rounds on the fixed code, ``round4_after_images_recheck`` the round-4 image and
path cases after the last fix (each written with ``--out`` to its own file, then merged).
``round5_before``/``round5_after`` ran the round-5 cases and runs (``--only '^r5_'``,
``bench/fuzz_corpus5.py``): before on the code of commit 9473a06 (its 12 GiB address-space
limit set on the running campaign with ``prlimit`` before its ``eval`` runs; its 3 device and
FIFO output runs, classed ``OK`` by the runner of then, reclassed ``WRONG`` by the node check
the runner now makes itself), after on the fixed code of commit 23e1132;
``rounds1to4_recheck_s19`` reran the 134 earlier cases and output runs the round-5 fixes touch
(videos, TIFF and GIF, damaged audio, special paths, output paths) and the 18 round-4 label
files on commit b745e32 (every fix but swap's early refusal of a device or FIFO output and the
two message fixes of 23e1132).
``round6_before``/``round6_after`` ran the round-6 mutants (``--only '^r6_' --timeout 30``,
``bench/fuzz_corpus6.py``: 15 valid seeds and 390 seeded random mutants, with the commands of
``ROUND6_COMMANDS`` per family): before on the code of commit 36e5bbc (the round-6 corpus
itself is the later commit d0a723a, which changes no code under ``src``), after on the fixed
code of commit 55de3a2.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_corpus import Case, make_corpus
from fuzz_corpus4 import round4_extra_cases
from fuzz_corpus5 import SPECIAL_OUTPUTS, round5_extra_cases, special_output_replaced
from fuzz_corpus6 import ROUND6_COMMANDS
from fuzz_run import OUT, Run, Runner, classify, count_table, save_phase

CLASSES = ("OK", "TYPED", "CRASH", "LEAK", "NOISY", "REJECT", "WRONG")
REPORT_CASES = re.compile(r"^(valid_|trunc50_mp4fs|mdat_|empty\.|random\.mp4|one_frame|vfr|"
                          r"gray16|cmyk|surround|zero_frames\.|non_utf8|spaces_unicode|"
                          r"r3_(vp9|rotated|audio_late|32_ch|video_32ch|two_hours|pix_yuv420p10|"
                          r"image\.avif|icon|heic))")


def _commands(case: Case, out: Path, files: dict[str, Path]) -> dict[str, list[str]]:
    """The command lines to run on ``case`` (name -> argv without the program name)."""
    p = os.fsdecode(case.path)
    jpg, wav = str(files["jpg"]), str(files["wav"])
    suffix = ".png" if case.family == "image" else ".mp4"
    cmds = {
        "detect": ["detect", p],
        "extract": ["extract", p, "-o", str(out / "faces.faceset")],
        "verify": ["verify", p],
        "swap target": ["swap", "--method", "mesh", "--source", jpg, p,
                        "-o", str(out / f"fake{suffix}")],
    }
    if case.valid or REPORT_CASES.match(case.name):
        cmds["detect --json"] = ["detect", p, "--json"]
    if REPORT_CASES.match(case.name):
        cmds["detect --report"] = ["detect", p, "--report", str(out / "r.html"),
                                   "--json-out", str(out / "r.json")]
    if case.family in ("image", "other"):
        cmds["swap source"] = ["swap", "--method", "mesh", "--source", p, jpg,
                               "-o", str(out / "fake.png")]
        cmds["extract --identity"] = ["extract", jpg, "-o", str(out / "faces.faceset"),
                                      "--identity", p]
    if case.family in ("audio", "other"):
        probe = str(files["r6_probe"]) if case.name.startswith("r6_") else wav
        cmds["detect --reference"] = ["detect", probe, "--reference", p]
    if case.name.startswith("r6_"):  # hundreds of mutants: the commands that read them
        cmds = {k: v for k, v in cmds.items() if k in ROUND6_COMMANDS[case.family]}
    return cmds


def _output_cases(root: Path, files: dict[str, Path]) -> list[tuple[str, list[str], bool]]:
    """Bad output paths for swap, extract and detect, and eval's label files:
    (name, argv, skipped)."""
    jpg, mp4 = str(files["jpg"]), str(files["mp4"])
    blocker = root / "a_file"
    blocker.write_bytes(b"x")
    existing = root / "existing_dir.png"
    existing.mkdir(exist_ok=True)
    swap = ["swap", "--method", "mesh", "--source", jpg]
    out = [
        ("swap -o missing folder", [*swap, jpg, "-o", str(root / "nope/deeper/fake.png")]),
        ("swap -o under a file", [*swap, jpg, "-o", str(blocker / "fake.png")]),
        ("swap -o is a folder", [*swap, jpg, "-o", str(existing)]),
        ("swap -o /proc", [*swap, jpg, "-o", "/proc/doppelab_fuzz.png"]),
        ("swap -o unknown suffix", [*swap, jpg, "-o", str(root / "fake.xyz")]),
        ("swap video -o missing folder", [*swap, mp4, "-o", str(root / "nope/fake.mp4")]),
        ("swap video -o /proc", [*swap, mp4, "-o", "/proc/doppelab_fuzz.mp4"]),
        ("extract -o under a file", ["extract", jpg, "-o", str(blocker / "x.faceset")]),
        ("extract -o /proc", ["extract", jpg, "-o", "/proc/doppelab_fuzz.faceset"]),
        ("extract -o existing file", ["extract", jpg, "-o", str(blocker)]),
        ("detect --report missing folder", ["detect", jpg, "--report", str(root / "no/r.html")]),
        ("detect --report /proc", ["detect", jpg, "--report", "/proc/doppelab_fuzz.html"]),
        ("detect --json-out is a folder", ["detect", jpg, "--json-out", str(existing)]),
    ]
    out += _eval_cases(root)
    out += round4_extra_cases(root, files)
    out += round5_extra_cases(root, files)
    if os.geteuid() == 0:
        skipped = [("swap -o read-only folder", [], True)]
    else:
        ro = root / "read_only"
        ro.mkdir(exist_ok=True)
        ro.chmod(0o555)
        skipped = [("swap -o read-only folder", [*swap, jpg, "-o", str(ro / "fake.png")], False)]
    return [(n, a, False) for n, a in out] + skipped


def _eval_cases(root: Path) -> list[tuple[str, list[str]]]:
    """``doppelab eval`` on label files: rows of broken media, a broken CSV, a missing column."""
    cases = root / "cases"
    mixed = root / "labels_mixed.csv"
    rows = [("valid_astro.jpg", 0), ("valid_speech.wav", 0), ("empty.mp4", 1), ("random.jpg", 1),
            ("trunc50_jpg.jpg", 1), ("text.wav", 1), ("missing.jpg", 1), ("no_face.mp4", 1)]
    mixed.write_text("path,label\n" + "".join(f"{cases / n},{y}\n" for n, y in rows))
    garbage = root / "labels_garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 8)
    nocol = root / "labels_nocol.csv"
    nocol.write_text("file,truth\nx.jpg,1\n")
    return [(f"eval {f.name}", ["eval", str(f), "--out", f"{OUT}/eval", "--frames", "4"])
            for f in (mixed, garbage, nocol)]


def _campaign(runner: Runner, cases: list[Case], files: dict[str, Path], root: Path,
              only: re.Pattern[str] | None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for case in cases:
        if only and not only.search(case.name):
            continue
        if case.skip:
            records.append({"case": case.name, "command": "*", "class": "SKIPPED",
                            "reason": case.skip})
            continue
        for label, argv in _commands(case, Path(OUT), files).items():
            run = runner.run(argv)
            records.append(_record(case.name, label, run, classify(run, case, label)))
            print(f"{records[-1]['class']:6} {run.seconds:6.1f}s {label:20} {case.name}",
                  flush=True)
    for name, argv, skipped in _output_cases(root, files):
        if only and not only.search(name):
            continue
        if skipped:
            records.append({"case": name, "command": argv[0] if argv else "swap",
                            "class": "SKIPPED", "reason": "running as root: permissions are "
                            "not enforced, a read-only folder stays writable"})
            continue
        run = runner.run(argv)
        label = "eval" if argv[0] == "eval" else "output path"
        cls = classify(run, None, argv[0])
        if name in SPECIAL_OUTPUTS and special_output_replaced(root, name):
            cls = "WRONG"  # a device node or FIFO was replaced by a regular file
        records.append(_record(name, label, run, cls))
        print(f"{records[-1]['class']:6} {run.seconds:6.1f}s {label:20} {name}",
              flush=True)
    return records


def _record(case: str, command: str, run: Run, cls: str) -> dict[str, Any]:
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    return {"case": case, "command": command, "class": cls, "exit": run.code,
            "seconds": round(run.seconds, 2), "stderr_lines": len(lines),
            "stderr": lines[-1][:300] if lines else "",
            "stdout": " ".join(run.stdout.split())[:200],
            "stderr_head": "\n".join(lines[:6])[:1200] if cls not in ("OK", "TYPED") else "",
            "left_behind": run.left_behind, "timed_out": run.timed_out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phase", default="before", help="block of the JSON to (re)write")
    ap.add_argument("--mode", choices=("fork", "exec"), default="fork")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    ap.add_argument("--only", help="regular expression: run only the matching cases")
    ap.add_argument("--memory-gb", type=float, default=12.0,
                    help="address-space limit of every run (GiB; 0: none)")
    ap.add_argument("--work", type=Path, help="corpus folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fuzz.json")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="doppelab_fuzz_")) if args.work is None else args.work
    for old in ("cases", "home", "out", "tmp"):  # a reused --work folder starts clean
        shutil.rmtree(root / old, ignore_errors=True)
    cases, files = make_corpus(root)
    started = time.time()
    runner = Runner(args.mode, args.timeout, root, args.memory_gb)
    records = _campaign(runner, cases, files, root, re.compile(args.only) if args.only else None)
    table = count_table(records, CLASSES, lambda r: r["stderr"])
    save_phase(args.out, args.phase, {
        "mode": args.mode, "timeout_s": args.timeout, "memory_gb": args.memory_gb,
        "seconds": round(time.time() - started, 1),
        "python": platform.python_version(), "machine": platform.machine(),
        "cases": len(cases), "import_noise": runner.import_noise, "counts": table,
        "runs": records,
    })
    print(f"\n{len(records)} runs in {time.time() - started:.0f} s -> {args.out}")
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
