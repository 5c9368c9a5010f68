# One image for the web service, the Celery workers, beat and the migration (docker-compose.yml).
# Built without secrets: every secret comes from the environment at run time (docs/deploy.md).
# No torch: the host side never runs student code; that happens in the sandbox image
# (docker/sandbox.Dockerfile), which the workers start through the Docker engine.
# Build it with scripts/build-images; `--local` (the tests) swaps the base for one made with debootstrap.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY docker/build-extra/ca/ /build-extra/ca/
WORKDIR /app
COPY pyproject.toml README.md ./
COPY grader ./grader
COPY gradekit ./gradekit
# Editable on purpose: the code stays in /app, so Flask's instance folder is /app/instance (below).
RUN set -eu; \
    if [ -s /build-extra/ca/ca.pem ]; then export PIP_CERT=/build-extra/ca/ca.pem; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install -e '.[docker,s3]'; \
    find /opt/venv /app -name __pycache__ -prune -exec rm -rf {} +; \
    /opt/venv/bin/python -m compileall -qq -j 0 --invalidation-mode unchecked-hash /opt/venv /app/grader \
      || true  # a few packages ship files that are not Python 3 (never imported): skipped, not fatal

FROM ${BASE}
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# A plain user; the code stays root-owned and read-only to it. /app/instance is Flask's instance
# folder; /var/lib/grader/storage becomes the shared `storage` volume, /var/lib/grader/jobs the
# workers' job folders (bound from the host at the same path: docker-compose.yml).
# Written directly: a minimal Debian base (the tests' one) has no useradd.
RUN echo "grader:x:10001:" >> /etc/group \
    && echo "grader:x:10001:10001:grader:/var/lib/grader:/usr/sbin/nologin" >> /etc/passwd \
    && install -d -o 10001 -g 10001 -m 0750 /app/instance /var/lib/grader /var/lib/grader/storage \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/grader/jobs
USER 10001:10001

EXPOSE 5000
CMD ["gunicorn", "--bind=0.0.0.0:5000", "--worker-tmp-dir=/dev/shm", "grader.wsgi:app"]
