# syntax=docker/dockerfile:1
# One image for every sentinel service of docker-compose.yaml: the user-code gRPC server (the
# default command), dagster-webserver, dagster-daemon and the metrics exporter.
#   docker build -t sentinel-assets .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a virtualenv with the pinned dependencies and the sentinel_assets wheel ------------------
FROM ${PYTHON_IMAGE} AS build
# the build backend of pyproject.toml, used by the image's own Python for the wheel only
ARG SETUPTOOLS_VERSION=80.9.0
ARG WHEEL_VERSION=0.45.1
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# every dependency comes from the lock file (scripts/lock_requirements.py), none is resolved here
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps -r requirements.lock
RUN python -m pip install "setuptools==${SETUPTOOLS_VERSION}" "wheel==${WHEEL_VERSION}"
COPY pyproject.toml setup.py README.md ./
COPY sentinel_assets ./sentinel_assets
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && /opt/venv/bin/pip check

# -- runtime: the virtualenv, the configuration, an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SENTINEL_UID=10001
RUN groupadd --system --gid ${SENTINEL_UID} sentinel \
    && useradd --system --uid ${SENTINEL_UID} --gid sentinel --home-dir /opt/sentinel \
       --shell /usr/sbin/nologin sentinel
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    SENTINEL_SPECS_DIR=/opt/sentinel/alert_specs \
    SENTINEL_OUTBOX=/opt/sentinel/data/outbox.jsonl
WORKDIR /opt/sentinel
# the same instance and workspace files as `make stack`
COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml
# the Celery deployment's instance (DAGSTER_HOME=/opt/dagster/celery, compose's celery profile),
# with the same storage folder, and its workers' settings
COPY deploy/dagster.celery.yaml /opt/dagster/celery/dagster.yaml
COPY deploy/celery-worker.yaml ./celery-worker.yaml
COPY workspace.stack.yaml ./workspace.stack.yaml
# the bundled specs; compose mounts ./alert_specs over them
COPY alert_specs ./alert_specs
RUN mkdir -p /opt/dagster/home/storage /opt/sentinel/data \
    && ln -s /opt/dagster/home/storage /opt/dagster/celery/storage \
    && chown -R sentinel:sentinel /opt/dagster/home /opt/dagster/celery /opt/sentinel
USER ${SENTINEL_UID}:${SENTINEL_UID}

EXPOSE 3000 4000 9464
# exit 0 healthy, 1 degraded, 2 unhealthy: Docker marks the container unhealthy on either problem
HEALTHCHECK --interval=60s --timeout=30s --start-period=90s --retries=3 \
    CMD ["sentinel", "healthcheck"]
CMD ["dagster", "code-server", "start", "-m", "sentinel_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]
