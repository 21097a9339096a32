# syntax=docker/dockerfile:1
# The production image: the web process by default, the worker with another command
# (compose.yaml runs both). docs/deployment.md explains it; tests/test_deployment.py
# runs the same build script (deploy/build-env.sh) into a temporary directory.

# --- build: the virtualenv, from the pinned requirements, wheels only ---
FROM python:3.13-slim AS build
ENV PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.txt ./
COPY deploy/build-env.sh deploy/
RUN sh deploy/build-env.sh /opt/venv

# --- run: the virtualenv and the source, owned by root, run as an unprivileged user ---
FROM python:3.13-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent taskqueue \
    && install -d -m 0700 -o taskqueue -g taskqueue /var/lib/taskqueue
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TASKQUEUE_VAR_DIR=/var/lib/taskqueue \
    TASKQUEUE_DEMO=0
USER taskqueue
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "config.asgi:application"]
