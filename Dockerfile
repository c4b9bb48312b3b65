# tvmaze-sync: `docker build -t tvmaze-sync .` then see docker-compose.yml and docs/deployment.md.
FROM python:3.12-slim

LABEL org.opencontainers.image.title="tvmaze-sync" \
      org.opencontainers.image.description="Mirror TVMaze, filter it, add the shows you want to Sonarr." \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Only what the package build needs (see .dockerignore); a non-editable install, no test extra.
COPY pyproject.toml README.md LICENSE /tmp/src/
COPY tvmaze_sync /tmp/src/tvmaze_sync
RUN pip install /tmp/src \
    && rm -rf /tmp/src \
    && groupadd --system --gid 1000 tvmaze \
    && useradd --system --uid 1000 --gid tvmaze --home-dir /data --no-create-home tvmaze \
    && mkdir -p /data /config \
    && chown tvmaze:tvmaze /data

# An empty placeholder, so the image runs on defaults + environment with nothing mounted;
# mount your own config.yaml over it.
COPY docker/config.yaml /config/config.yaml

ENV STORAGE_PATH=/data \
    TVMAZE_SYNC_CONFIG=/config/config.yaml \
    SERVER_HOST=0.0.0.0 \
    LOGGING_FORMAT=json

# Declared after the chown: a fresh named volume copies /data with its owner.
VOLUME ["/data", "/config"]
WORKDIR /data
# Numeric: a Kubernetes pod with `runAsNonRoot` but no `runAsUser` is refused a named user,
# since the kubelet cannot tell that `tvmaze` is not root.
USER 1000:1000
EXPOSE 8080

# No curl in a slim image: the CLI probes its own server (server.host/server.port). Exec
# form, no shell: Docker counts every non-zero exit (tvmaze-sync's 3, or 2) as unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["tvmaze-sync", "healthcheck", "--timeout", "5"]

ENTRYPOINT ["tvmaze-sync"]
CMD ["serve"]
