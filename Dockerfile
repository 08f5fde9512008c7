# One image for every P2KP service. The command picks what runs:
#   p2kp serve <service> --host 0.0.0.0 --port 8000   one service, distributed mode (docker-compose.yml, deploy/k8s)
#   p2kp run --host 0.0.0.0                          the whole platform in one process, embedded mode (the default)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, from the lock file alone, so a code change does not reinstall them.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

# The platform itself (its packages, including the Alembic migrations, are installed into site-packages).
COPY pyproject.toml /tmp/src/
COPY shared /tmp/src/shared
COPY services /tmp/src/services
RUN pip install --no-deps /tmp/src && rm -rf /tmp/src

RUN useradd --create-home --home-dir /app --uid 10001 --user-group p2kp
USER p2kp
WORKDIR /app

EXPOSE 8000
CMD ["p2kp", "run", "--host", "0.0.0.0", "--port", "8000"]
