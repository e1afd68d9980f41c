# The gateway alone: the only image that needs bucket credentials.
#
# Made to run with a read-only root filesystem (`docker run --read-only`, Kubernetes
# `readOnlyRootFilesystem: true`): the gateway writes no temp files, its bytecode is compiled
# at install time and PYTHONDONTWRITEBYTECODE stops any later write, and the only writable
# places are the declared volumes: /tmp (HOME and TMPDIR) and /data (the default local
# destination, unused when the configuration names an S3 destination). The user is numeric so
# that Kubernetes' `runAsNonRoot` can verify it.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir --compile . \
    && rm -rf /src \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin gateway \
    && mkdir -p /data \
    && chown 10001:10001 /data

WORKDIR /data
USER 10001:10001
VOLUME ["/tmp", "/data"]
# Inside a container the gateway must listen beyond loopback; the default destination is a volume.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_ARTIFACTS_DESTINATION=/data/mlartifacts
# 5500 serves the MLflow artifact API, /health, /ready and the Prometheus /metrics.
EXPOSE 5500
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5500/health', timeout=3)"]
ENTRYPOINT ["artifact-gateway"]
