# The gateway alone: the only image that needs bucket credentials.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data gateway \
    && mkdir -p /data && chown gateway /data

USER gateway
# Inside a container the gateway must listen beyond loopback; the default destination is a volume.
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_ARTIFACTS_DESTINATION=/data/mlartifacts
EXPOSE 5500
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5500/health', timeout=3)"]
ENTRYPOINT ["artifact-gateway"]
