# The sandbox image: where student code runs under the Docker backend (grader/engine/sandbox/docker.py).
# Python, torch, the packages students may import (docker/sandbox-requirements.txt), the harness and
# gradekit under /opt/grader, a plain uid. No secrets, no grader code beyond the harness, no data:
# each run gets its job folder and its channel sockets as read-only mounts.
#
# Build it with scripts/build-images (production: python:3.11-slim and torch from the official
# index; `--gpu` for a CUDA build of torch; `--local` for the tests, on a base made with debootstrap).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# The index torch comes from: the CPU build by default, a CUDA one (…/whl/cu128) for GPU workers,
# empty to take it only from build-extra/wheels (a local build without network access to that index).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# tini, static, for the final stage: pid 1 of every sandbox (grader/engine/sandbox/docker.py, COMMAND).
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini >/dev/null
COPY docker/build-extra/ /build-extra/
COPY docker/sandbox-requirements.txt /build-extra/requirements.txt
RUN set -eu; \
    if [ -s /build-extra/ca/ca.pem ]; then export PIP_CERT=/build-extra/ca/ca.pem; fi; \
    index=""; if [ -n "$TORCH_INDEX" ]; then index="--index-url $TORCH_INDEX --extra-index-url https://pypi.org/simple"; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --find-links /build-extra/wheels $index "torch==$TORCH_VERSION"; \
    echo "torch==$TORCH_VERSION" > /build-extra/constraints.txt; \
    /opt/venv/bin/pip install -c /build-extra/constraints.txt -r /build-extra/requirements.txt; \
    /opt/venv/bin/python -m compileall -qq -j 0 --invalidation-mode unchecked-hash /opt/venv \
      || true  # a few packages ship files that are not Python 3 (never imported): skipped, not fatal

FROM ${BASE}
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/venv /opt/venv
COPY grader/engine/harness /opt/grader/harness
COPY gradekit /opt/grader/gradekit
# Bytecode compiled ahead, checked by hash rather than time: the root is read-only in a sandbox, so
# an import whose bytecode is missing or stale compiles its source again in every run (torch's lazy
# imports cost seconds that way). /workspace is 1777 because the engine gives a tmpfs mounted on it
# the folder's own mode.
RUN find /opt/grader -name __pycache__ -prune -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/grader \
    && chmod -R a+rX,go-w /opt/grader \
    && install -d -m 1777 /workspace
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1
# The backend names its own uid (GRADER_SANDBOX_UID) on every container; this is only the default.
USER 61000:61000
CMD ["python", "-s", "-u", "-m", "harness"]
