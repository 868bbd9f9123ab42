# jobs-sidecar: the Starlette app under Hypercorn, in two stages.
#   builder: a virtualenv at /opt/venv holding the project and its runtime dependencies only
#            (no `test` or `lint` extras), byte-compiled at install time.
#   final:   the same Python base, that virtualenv and config/; no compiler, no pip run, non-root.
#
#   docker build -t jobs-sidecar .
#   docker run --rm -p 127.0.0.1:8000:8000 -e DATABRICKS_HOST=... -e DATABRICKS_TOKEN=... \
#       -e ACCESS_MODE=token -e SIDECAR_API_KEYS=frontend:<16+ character secret> jobs-sidecar
#
# No access mode is baked in: the service listens on all interfaces here, so it starts in `apps`
# mode when Databricks Apps runs it (DATABRICKS_APP_PORT set) and otherwise refuses to start
# until ACCESS_MODE (or [access] mode) says token, apps or open (docs/security.md).
#
# Both stages use one base so the venv's interpreter path is the same in each. 3.11 is the lowest
# Python the project supports and the one its CI runs. Where Docker Hub cannot be reached (CI
# here), .ci/docker-up builds a local stand-in for the base from Debian's packages; this file
# builds unchanged on it with the classic builder (DOCKER_BUILDKIT=0, no --pull).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src
# The runtime dependencies first, exactly as locked (uv.lock, exported with hashes by `make lock`),
# in a layer of their own that only a new lock rebuilds: a code change then rebuilds in seconds.
COPY deploy/databricks-app/requirements.txt ./requirements.txt
RUN pip install --no-cache-dir --require-hashes --requirement requirements.txt
# Then only what the wheel is built from. README.m[d] copies README.md when it exists (pyproject
# names it as the long description) and is skipped while it does not (pyproject.toml, again and
# unchanged, keeps the classic builder from refusing a COPY whose only source matches nothing).
COPY pyproject.toml README.m[d] ./
COPY service ./service
RUN pip install --no-cache-dir --no-deps .


FROM ${PYTHON_IMAGE} AS final

LABEL org.opencontainers.image.title="jobs-sidecar" \
      org.opencontainers.image.description="Trigger, watch and cancel Databricks Jobs over HTTP" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, unprivileged uid/gid: volumes and Kubernetes securityContext can name them, and the
# numeric USER below lets `runAsNonRoot` verify the image without reading /etc/passwd.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-log-init \
        --home-dir /app --no-create-home --shell /usr/sbin/nologin app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PORT=8000

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Read-only for the app user (owned by root): config/jobs.toml is read from here by default, and
# config/demo.toml and config/emulator.toml serve docker-compose.yml's local stack.
COPY config/ ./config/

USER 10001:10001
EXPOSE 8000

# /livez answers while the process runs and never calls Databricks. Same port rule as the
# service: DATABRICKS_APP_PORT (Databricks Apps sets it), else PORT, else 8000. ProxyHandler({}):
# an HTTP(S)_PROXY set for the service's egress must not swallow a probe of loopback. Any error or
# non-2xx exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; port = os.environ.get('DATABRICKS_APP_PORT') or os.environ.get('PORT') or '8000'; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + port + '/livez', timeout=4)"]

# The service drains its event streams and exits within 15 s of SIGTERM; python is PID 1 (exec form)
# and handles the signal itself.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service", "serve"]
