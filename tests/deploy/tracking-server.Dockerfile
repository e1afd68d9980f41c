# The tracking server for kube play of deployment A (tests/deploy/kube.py), standing in for
# ghcr.io/mlflow/mlflow, which cannot be pulled here. Built like the gateway's image: a Debian
# base given as BASE, the pinned mlflow and its dependencies as wheels from ./wheelhouse
#   python -m pip wheel --wheel-dir wheelhouse mlflow==<the project's mlflow>
# installed with --no-index into a venv; only the venv reaches the final stage. Non-root and
# numeric (runAsNonRoot can verify it); HOME and TMPDIR are /tmp, a volume, so the root file
# system may be read-only.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
COPY wheelhouse /wheels
RUN python3 -m venv /opt/mlflow \
    && /opt/mlflow/bin/python -m pip install --no-index --no-cache-dir --compile \
        --find-links /wheels mlflow \
    && /opt/mlflow/bin/python -m pip uninstall --yes --no-cache-dir pip

FROM ${BASE}
COPY --from=build /opt/mlflow /opt/mlflow
USER 10001:10001
VOLUME ["/tmp"]
ENV PATH=/opt/mlflow/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
EXPOSE 5000
ENTRYPOINT ["mlflow"]
CMD ["server", "--host", "0.0.0.0", "--port", "5000"]
