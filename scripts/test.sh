#!/usr/bin/env bash
# Every check of the project: ruff, mypy, the whole pytest suite (browser tests included)
# and the container smoke test (builds and runs the Docker image).
# First run: creates .venv with the dev extras; as root, apt-installs what is missing
# (chromium for the browser tests; docker.io and debootstrap for the container test).
#   scripts/test.sh                       everything
#   scripts/test.sh tests/app -x          extra arguments go to pytest
#   PADDLE_SERVE_SKIP_CONTAINER=1 ...     skip the container smoke test (it needs root)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
export VENV GLOG_minloglevel=${GLOG_minloglevel:-2}
cd "$ROOT"

banner() { printf '\n======== %s ========\n' "$*"; }
PASSED=0 FAILED=0 SUMMARY=()
step() {  # step NAME COMMAND...: run it, time it, record the outcome, carry on either way
    local name=$1 start=$SECONDS rc
    shift
    banner "$name"
    "$@"
    rc=$?
    if [ "$rc" = 0 ]; then
        PASSED=$((PASSED + 1)) && SUMMARY+=("PASS  $name ($((SECONDS - start)) s)")
    else
        FAILED=$((FAILED + 1)) && SUMMARY+=("FAIL  $name (exit $rc, $((SECONDS - start)) s)")
    fi
}

install_apt_packages() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && { echo "apt packages present"; return 0; }
    if [ "$(id -u)" != 0 ]; then
        echo "not root: cannot install ${missing[*]} (browser tests skip without chromium)"
        return 0
    fi
    echo "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

run_pytest() {
    local rc
    nice -n 5 "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
    rc=$?
    if [ "$rc" = 5 ]; then
        echo "pytest collected no tests: that is a failure here"
        return 1
    fi
    return "$rc"
}

SKIP_CONTAINER=${PADDLE_SERVE_SKIP_CONTAINER:-0}
PREPARE_PID="" PREPARE_LOG=""
start_container_prepare() {  # debootstrap etc. is mostly network: overlap it with pytest
    [ "$SKIP_CONTAINER" = 1 ] || [ "$(id -u)" != 0 ] && return 0
    PREPARE_LOG=$(mktemp /tmp/paddle-serve-prepare.XXXXXX.log)
    "$ROOT/scripts/container_smoke.sh" prepare >"$PREPARE_LOG" 2>&1 &
    PREPARE_PID=$!
    echo "container smoke test: preparing in the background (pid $PREPARE_PID)"
}

run_container_smoke() {
    if [ "$SKIP_CONTAINER" = 1 ]; then
        echo "skipped (PADDLE_SERVE_SKIP_CONTAINER=1)"
        return 0
    fi
    if [ -n "$PREPARE_PID" ]; then
        wait "$PREPARE_PID" || { cat "$PREPARE_LOG"; rm -f "$PREPARE_LOG"; return 1; }
        cat "$PREPARE_LOG"
        rm -f "$PREPARE_LOG"
    fi
    "$ROOT/scripts/container_smoke.sh"
}

banner "set-up"
setup_start=$SECONDS
install_apt_packages || { echo "apt-get failed"; exit 1; }
"$ROOT/scripts/setup_venv.sh" dev || { echo "virtualenv set-up failed"; exit 1; }
echo "set-up took $((SECONDS - setup_start)) s"
start_container_prepare

step "ruff" "$VENV/bin/ruff" check .
step "mypy" "$VENV/bin/mypy"
step "pytest" run_pytest "$@"
step "container smoke test" run_container_smoke

banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "total $SECONDS s"
echo "checks: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
