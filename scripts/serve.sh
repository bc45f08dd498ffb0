#!/usr/bin/env bash
# Serve the committed models at http://127.0.0.1:8000 (the page at /, the API manual at /docs).
# First run: creates .venv and installs the serving dependencies (a few minutes).
# Every PADDLE_SERVE_* variable is a setting (README.md), e.g.
#   PADDLE_SERVE_HOST=0.0.0.0 PADDLE_SERVE_PORT=9000 scripts/serve.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
export VENV
"$ROOT/scripts/setup_venv.sh" serve
cd "$ROOT"
export GLOG_minloglevel=${GLOG_minloglevel:-2}
exec "$VENV/bin/python" -m app
