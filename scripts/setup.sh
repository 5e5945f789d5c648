#!/usr/bin/env bash
# Set up a fresh Debian machine: system packages (OpenGL/Mesa, Xvfb for tests and headless
# screenshots, Qt's xcb libraries), then a virtual environment in .venv with the project.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PKGS="python3-venv gcc libc6-dev xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxkbcommon-x11-0"
missing=$(for p in $APT_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
# ResVR's fused CPU kernel (core/models/vr_kernel.c), compiled once for this CPU into ~/.cache/resvr;
# without it ResVR renders through the slower pure-torch path
.venv/bin/python -c "from resvr.core.models import vr_fast; print('fused ResVR kernel:', vr_fast.build())" \
  || echo "fused ResVR kernel not built: ResVR uses the torch path"
echo "setup done: $(.venv/bin/python -c 'import torch, PySide6; print("torch", torch.__version__, "PySide6", PySide6.__version__)')"
