#!/usr/bin/env bash
# Run the whole test suite under a virtual X display (Mesa llvmpipe for the OpenGL widget).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-xcb} LIBGL_ALWAYS_SOFTWARE=1
exec xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
