# One image for the web service, the Celery workers, beat and the migration (docker-compose.yml).
# Built without secrets: every secret comes from the environment at run time (docs/deploy.md).
# Checked only statically (tests/test_compose.py); no Docker engine has built it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, pinned, from the CPU index: a bare `torch` requirement pulls a multi-GB CUDA build.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY grader ./grader
COPY gradekit ./gradekit
COPY migrations ./migrations
COPY assignments ./assignments

# Editable on purpose: the code finds migrations/ and assignments/ next to the grader package
# (grader/app.py, grader/assignments/spec.py) and a wheel does not carry them. The Docker SDK
# is for the Docker sandbox backend (grader/sandbox/docker.py imports it lazily).
RUN pip install --no-cache-dir -e '.[runtime]' 'docker>=7.1,<8'

# The layout the Docker sandbox backend expects of a sandbox image (harness and gradekit under
# /opt/grader), so this image can also serve as the sandbox image for CPU runs.
RUN mkdir -p /opt/grader \
    && cp -r grader/harness /opt/grader/harness \
    && cp -r gradekit /opt/grader/gradekit \
    && find /opt/grader -name __pycache__ -prune -exec rm -rf {} +

# A plain user; the code stays root-owned and read-only to it. /app/instance is Flask's
# instance folder; /var/lib/grader/storage becomes the shared `storage` volume.
RUN groupadd --system --gid 10001 grader \
    && useradd --system --uid 10001 --gid grader --home-dir /var/lib/grader --shell /usr/sbin/nologin grader \
    && install -d -o grader -g grader -m 0750 /app/instance /var/lib/grader /var/lib/grader/storage /var/lib/grader/jobs
USER 10001:10001

EXPOSE 5000
CMD ["gunicorn", "--bind=0.0.0.0:5000", "--worker-tmp-dir=/dev/shm", "grader.wsgi:app"]
