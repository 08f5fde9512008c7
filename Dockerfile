# syntax=docker/dockerfile:1.7
# One image for every P2KP process. The command picks what runs:
#   p2kp serve <service> --role api|relay|consumers   one part of one service, distributed mode (docker-compose.yml, deploy/k8s)
#   p2kp migrate <service> / p2kp topics create ...    the one-shot jobs of a deployment
#   p2kp run --host 0.0.0.0                            the whole platform in one process, embedded mode (the default)
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: a virtualenv with the pinned dependencies and the platform, copied whole into the final
# stage, so pip, setuptools and the build caches stay behind.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/p2kp
# Dependencies first, from the runtime lock alone, so a code change does not reinstall them.
COPY requirements.lock /tmp/requirements.lock
RUN /opt/p2kp/bin/pip install -r /tmp/requirements.lock
# The platform itself; its packages carry the Alembic migrations and the dashboard's templates.
COPY pyproject.toml /src/
COPY shared /src/shared
COPY services /src/services
RUN /opt/p2kp/bin/pip install --no-deps /src

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/p2kp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
RUN useradd --create-home --home-dir /app --uid 10001 --user-group --shell /usr/sbin/nologin p2kp
COPY --from=build /opt/p2kp /opt/p2kp
# Liveness of whatever the container runs: `p2kp serve` answers /health at the root, `p2kp run` under
# each service's prefix. Compose's checks pass /ready instead (database and, but for the api role, Kafka).
COPY --chmod=0755 <<'EOF' /usr/local/bin/p2kp-healthcheck
#!/opt/p2kp/bin/python
import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("PORT", "8000")
for path in sys.argv[1:] or ["/health", "/monitoring/health"]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3):
            sys.exit(0)
    except urllib.error.HTTPError:
        continue
    except OSError:
        break
sys.exit(1)
EOF
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["p2kp-healthcheck"]
CMD ["p2kp", "run", "--host", "0.0.0.0", "--port", "8000"]
