# syntax=docker/dockerfile:1
#
# Loket image: `docker build -t loket .`, then `docker run loket serve ...`, `loket worker`, `loket db upgrade`.
# docker-compose.yml shows the production wiring.

# --- widget: the embeddable widget.js, built with npm + esbuild ------------------------------------------------
FROM node:20-slim AS widget
WORKDIR /src/widget
COPY widget/package.json widget/package-lock.json ./
RUN npm ci
COPY widget/ ./
RUN npm run build

# --- build: install the project and its dependencies into a virtualenv -----------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/loket
WORKDIR /src
# Dependencies first, so that a code-only change reuses this layer: install them from pyproject.toml's
# metadata alone (an empty package), then the real project without touching dependencies again.
COPY pyproject.toml ./
RUN mkdir loket && touch loket/__init__.py \
    && /opt/loket/bin/pip install . \
    && /opt/loket/bin/pip uninstall -y loket \
    && rm -rf loket build ./*.egg-info
COPY . .
RUN /opt/loket/bin/pip install --no-deps . \
    && /opt/loket/bin/loket --help > /dev/null

# --- runtime --------------------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/loket/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 loket \
    && useradd --system --uid 10001 --gid loket --home-dir /var/lib/loket --create-home \
       --shell /usr/sbin/nologin loket \
    && install -d -o loket -g loket /var/lib/loket-media-spool

COPY --from=build /opt/loket /opt/loket
COPY --from=widget /src/widget/dist /opt/loket-widget/dist
ENV LOKET_WIDGET_DIR=/opt/loket-widget/dist
# The image is for production: it refuses to start without real secrets, PostgreSQL and an https://
# public URL (loket/production.py). Trying it out on a laptop: `docker run -e LOKET_ENV=development ...`.
ENV LOKET_ENV=production

# Working files (the spool, and in development mode the SQLite file) live under ./data, relative to here.
WORKDIR /var/lib/loket
USER loket:loket

EXPOSE 8080

# No curl in the slim image; urllib raises (exit 1) on a refused connection or an HTTP error status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["loket"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
