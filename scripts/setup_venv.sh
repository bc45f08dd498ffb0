#!/usr/bin/env bash
# Create .venv if missing and install the project into it, pinned by
# requirements/constraints.txt. Skips pip when nothing changed since the last install.
#   scripts/setup_venv.sh            serving dependencies only
#   scripts/setup_venv.sh dev        + training and development extras (tests, ruff, mypy)
# VENV=/path overrides the location; PYTHON=python3.11 the interpreter that creates it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
MODE=${1:-serve}
case "$MODE" in
    serve) SPEC="$ROOT" ;;
    dev) SPEC="$ROOT[train,dev]" ;;
    *) echo "usage: $0 [serve|dev]" >&2; exit 2 ;;
esac

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] && command -v "$candidate" >/dev/null || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$candidate"; return
        fi
    done
    echo "pyproject.toml requires Python 3.11: install it or set PYTHON=" >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$(find_python)" -m venv "$VENV"
fi

# The stamp records what was installed: pyproject, constraints and the extras asked for.
stamp="$VENV/.paddle-serve-installed"
hash=$(cat "$ROOT/pyproject.toml" "$ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16)
have=$(cat "$stamp" 2>/dev/null || true)
[ "$have" = "$hash-dev" ] || [ "$have" = "$hash-$MODE" ] && exit 0

pip() {  # this machine's pip.conf names local indexes that may be absent: hide that noise
    "$VENV/bin/python" -m pip "$@" 2> >(grep -v '^WARNING: Location' >&2 || true)
}
echo "installing paddle-serve ($MODE) into $VENV, pinned by requirements/constraints.txt"
pip install --quiet --constraint "$ROOT/requirements/constraints.txt" --editable "$SPEC"
pip check >/dev/null || { pip check; exit 1; }
echo "$hash-$MODE" > "$stamp"
