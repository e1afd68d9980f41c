# The gateway alone: the only image that needs bucket credentials.
#
# The base is a build argument: the official Python slim image by default, or any Debian-like
# root file system with python3 and python3-venv (tests/deploy/image.py builds one with
# mmdebstrap, for machines that cannot pull from a registry). Nothing is fetched during the
# build: the gateway and its dependencies come as wheels from ./wheelhouse, made on the host
#   python -m pip wheel --wheel-dir wheelhouse .
# and installed with --no-index into a venv in a build stage; only the venv is copied into
# the final stage, so no wheel, pip cache, compiler or source lands in the image.
#
# Made to run with a read-only root filesystem (`docker run --read-only`, Kubernetes
# `readOnlyRootFilesystem: true`): its bytecode is compiled at install time and
# PYTHONDONTWRITEBYTECODE stops any later write; the only writable places are the declared
# volumes /tmp (HOME and TMPDIR) and /data (the default local destination, unused when the
# configuration names an S3 destination). The user is numeric, without a passwd entry, so that
# Kubernetes' `runAsNonRoot` can verify it.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
COPY wheelhouse /wheels
RUN python3 -m venv /opt/gateway \
    && /opt/gateway/bin/python -m pip install --no-index --no-cache-dir --compile \
        --find-links /wheels mlflow-artifact-gateway \
    && /opt/gateway/bin/python -m pip uninstall --yes --no-cache-dir pip \
    && find /opt/gateway -depth \( -name tests -type d -o -name conftest.py \) -exec rm -rf {} + \
    && mkdir -p /data \
    && chown 10001:10001 /data

FROM ${BASE}
COPY --from=build /opt/gateway /opt/gateway
COPY --from=build --chown=10001:10001 /data /data
# The base's bundled pip and setuptools wheels (Debian's python3-venv): nothing installs here.
RUN rm -rf /usr/share/python-wheels
WORKDIR /data
USER 10001:10001
VOLUME ["/tmp", "/data"]
# Inside a container the gateway must listen beyond loopback; the default destination is a volume.
ENV PATH=/opt/gateway/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_ARTIFACTS_DESTINATION=/data/mlartifacts
# 5500 serves the MLflow artifact API, /health, /ready and the Prometheus /metrics.
EXPOSE 5500
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["/opt/gateway/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5500/health', timeout=3)"]
ENTRYPOINT ["artifact-gateway"]
