"""How long ``doppelab demo`` takes, as a user runs it (a fresh process, its own lab folder).

Records wall time, the CPU time the demo's process used (user + system: about the wall time the
demo would take on an otherwise idle machine, or more, since it keeps one or two threads busy
at a time), the machine's load average before and after (other people's jobs share this CPU),
and the demo's own per-stage timings. Target: under 5 minutes on this project's 2-core CPU.

Usage: python bench/demo.py [--train-minutes N] [--runs 1]
Writes bench/results/demo.json (or demo_train.json with --train-minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 300.0


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(train_minutes: float) -> dict[str, Any]:
    """Run ``doppelab demo --json`` once in a temporary folder and DOPPELAB_HOME."""
    with tempfile.TemporaryDirectory(prefix="doppelab-bench-demo-") as tmp:
        env = {**os.environ, "DOPPELAB_HOME": str(Path(tmp) / "home")}
        env.pop("DOPPELAB_REGISTRY", None)
        cmd = [sys.executable, "-m", "doppelab", "demo", "-o", str(Path(tmp) / "out"), "--json"]
        if train_minutes > 0:
            cmd += ["--train-minutes", str(train_minutes)]
        load_before = os.getloadavg()
        cpu0, t0 = _cpu_children(), time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
        if proc.returncode != 0:
            raise SystemExit(f"demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
        facts = json.loads(proc.stdout)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "demo_seconds": facts["seconds"],
        "stages": facts["timings"],
        "verdicts": {k: v["verdict"] for k, v in facts["detect"].items()},
        "provenance_found": {k: v["provenance_found"] for k, v in facts["verify"].items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-minutes", type=float, default=0.0)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    runs = [one_run(args.train_minutes) for _ in range(args.runs)]
    worst = max(r["wall_s"] for r in runs)
    out = {
        "command": "doppelab demo" + (f" --train-minutes {args.train_minutes:g}"
                                      if args.train_minutes else ""),
        "cpus": os.cpu_count(),
        "target_s": TARGET_S,
        "worst_wall_s": worst,
        "meets_target": worst < TARGET_S,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "demo_train.json" if args.train_minutes else "demo.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'run':>4} {'wall s':>8} {'cpu s':>8} {'load 1m':>8}  stages")
    for i, r in enumerate(runs):
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        load = r["load_before"][0]
        print(f"{i:>4} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {load:>8.2f}  {stages}")
    print(f"worst wall {worst:.1f} s (target < {TARGET_S:.0f} s) -> {RESULTS / name}")


if __name__ == "__main__":
    main()
