# The serving image: the FastAPI app and the committed model folders, nothing else.
#   docker compose up --build          (see docker-compose.yml; scripts/container_smoke.sh)
# Works with the legacy builder (no BuildKit features).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The app user owns nothing in the image: code and models stay root-owned and read-only.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

# paddle's CPU kernels link GCC's OpenMP runtime, which the slim image lacks. Unpinned on
# purpose: the base image's Debian release decides the version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

WORKDIR /srv

# Dependencies first (serving only, every version pinned): this layer is rebuilt only when
# requirements/serve.txt changes. paddle's C++ headers are not needed to run.
COPY requirements/serve.txt /tmp/requirements.txt
RUN python -m pip install --no-cache-dir --no-deps --requirement /tmp/requirements.txt \
    && python -m pip check \
    && rm -rf /tmp/requirements.txt /tmp/* \
        "$(python -c 'import importlib.util as u; print(u.find_spec("paddle").submodule_search_locations[0])')/include"

# Runtime settings after the dependency layer, so changing them does not reinstall anything.
# HOME=/tmp: the root filesystem is read-only at run time (docker-compose.yml), /tmp a tmpfs.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GLOG_minloglevel=2 \
    PYTHONWARNINGS="ignore:No ccache found:UserWarning" \
    HOME=/tmp \
    PADDLE_SERVE_HOST=0.0.0.0 \
    PADDLE_SERVE_PORT=8000 \
    PADDLE_SERVE_PROBE_PORT=8081 \
    PADDLE_SERVE_MODELS_DIR=/srv/models \
    PADDLE_SERVE_WORKERS=1

COPY app/ /srv/app/
COPY models/ /srv/models/
# Root-owned and read-only for everyone else, whatever modes the build context had.
RUN chmod -R u=rwX,go=rX /srv

USER 10001:10001
# 8081: /livez and /readyz answered by a thread, fast under any load (app/probes.py)
EXPOSE 8000 8081

HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; port = os.environ.get('PADDLE_SERVE_PROBE_PORT') or os.environ.get('PADDLE_SERVE_PORT', '8000'); sys.exit(r.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status != 200)"]

# Exec form: python is PID 1 and gets SIGTERM itself; uvicorn drains in-flight requests, exits 0.
CMD ["python", "-m", "app"]
