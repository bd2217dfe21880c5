# syntax=docker/dockerfile:1
# The cold-chain dashboard: one image for web (gunicorn), worker and beat (Celery) and the one-shot
# `migrate` service. See docker-compose.yml for how they are wired together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The project is also installed into site-packages by `pip install .`; the copy in /app must win
    # because settings find templates/ and static/ next to the package (BASE_DIR).
    PYTHONPATH=/app

WORKDIR /app

RUN groupadd --system --gid 10001 coldchain \
    && useradd --system --uid 10001 --gid coldchain --home-dir /app --no-create-home --shell /usr/sbin/nologin coldchain

# Dependencies first (cached while pyproject.toml and the packages do not change).
COPY pyproject.toml README* ./
COPY coldchain ./coldchain
COPY vendors ./vendors
COPY monitoring ./monitoring
COPY users ./users
COPY alarms ./alarms
RUN pip install .

COPY . .

# Static files are collected once, into the image: whitenoise serves them (with the manifest, so
# every replica agrees on the hashed names) and the container needs no writable static volume.
# The values below exist only so that production settings load during the build; none is kept in
# the image's environment and none is a real secret.
RUN DJANGO_DEBUG=0 \
    DATABASE_URL=postgres://build-only@localhost/collectstatic-connects-to-no-database \
    SECRET_KEY=build-only-collectstatic-not-a-secret \
    CREDENTIALS_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown coldchain:coldchain /app/var

USER coldchain

EXPOSE 8000

CMD ["gunicorn", "coldchain.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
