"""Settings for the taskqueue project. Everything a deployment changes comes from the
environment (see docs/configuration.md); the defaults are safe for development:
SQLite and an embedded Redis under var/, DEBUG off, loopback hosts only."""

import os
from pathlib import Path

import dj_database_url

from taskqueue.embedded_redis import default_socket_path
from taskqueue.private_files import private_dir, private_sqlite
from taskqueue.redis_urls import is_single_node

from .env import env_bool, env_int, env_list, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
# The secret key, the SQLite database and the embedded Redis's data: readable by this
# user only (0700 directory, 0600 files, whatever the umask).
VAR_DIR = Path(os.environ.get("TASKQUEUE_VAR_DIR", BASE_DIR / "var")).resolve()
private_dir(VAR_DIR, tighten="TASKQUEUE_VAR_DIR" not in os.environ)

SECRET_KEY = secret_key(VAR_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"  # the console's styled 403, JSON under /api/

# The broker's Redis. Unset: the embedded one `manage.py runall` starts on a Unix socket.
REDIS_URL = os.environ.get("REDIS_URL") or f"unix://{default_socket_path(VAR_DIR)}"

INSTALLED_APPS = [
    "taskqueue",  # first: its `runworker` must win over the one channels ships
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "api",
    "dashboard",
    "devserver",  # `manage.py runall`: the whole product in one command
]
if env_bool("TASKQUEUE_DEMO", True):
    INSTALLED_APPS.append("demo")  # example tasks; TASKQUEUE_DEMO=0 leaves them out

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if not str(DATABASES["default"]["NAME"]).startswith(("file:", ":memory:")):
        private_sqlite(Path(DATABASES["default"]["NAME"]))
    # Every API or console action writes an audit row. WAL with synchronous=NORMAL spares
    # each commit an fsync (a power cut may lose the last commits, never corrupts), and
    # IMMEDIATE transactions make concurrent writers wait their turn instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        transaction_mode="IMMEDIATE",
        timeout=20,
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Security headers: no framing, a CSP that forbids inline script, safe cookies.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
# Behind HTTPS (all off by default, for plain-HTTP development):
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
if env_bool("TRUST_X_FORWARDED_PROTO", False):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}

TASKQUEUE = {
    "REDIS_URL": REDIS_URL,
    "PREFIX": os.environ.get("TASKQUEUE_PREFIX", "tq"),
    "QUEUES": env_list("TASKQUEUE_QUEUES", ["high", "default", "low"]),
    # a Redis on the network with neither a password nor TLS: refused unless this is set
    "ALLOW_INSECURE_REDIS": env_bool("TASKQUEUE_ALLOW_INSECURE_REDIS", False),
}

# Django's own Tasks API (django.tasks) on the same queues and workers: docs/django-tasks.md.
TASKS = {
    "default": {
        "BACKEND": "taskqueue.backends.RedisTaskBackend",
        "QUEUES": TASKQUEUE["QUEUES"],
    }
}

# The largest request body the web server accepts, on any URL, chunked or not; larger
# ones get a 413 as they arrive, before they are buffered (config/webserver.py). A bit
# above the API's own 1 MiB cap (TASKQUEUE_API["MAX_BODY_BYTES"]), which answers first.
WEB_MAX_BODY_BYTES = env_int("WEB_MAX_BODY_BYTES", 1_114_112)

# The JSON API (api/conf.py, docs/api.md): networks that may scrape /api/v1/metrics
# without a token, e.g. TASKQUEUE_METRICS_NETWORKS=10.0.5.0/24.
TASKQUEUE_API = {"METRICS_PUBLIC_NETWORKS": env_list("TASKQUEUE_METRICS_NETWORKS", [])}

# The console's channel layer (Channels): it carries access changes to open console
# sockets in every web process (dashboard/live/access_changes.py). channels-redis is not
# Cluster-aware: give it a plain Redis of its own in production; by default it shares
# the broker's, under its own prefix. When REDIS_URL is a Cluster or Sentinel URL and
# CHANNELS_REDIS_URL is not set, the layer is in memory (check taskqueue.W001): access
# changes then reach other web processes' sockets only at their periodic re-check
# (docs/scaling.md).
CHANNELS_REDIS_URL = os.environ.get("CHANNELS_REDIS_URL") or (
    REDIS_URL if is_single_node(REDIS_URL) else ""
)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # The socket must outlast channels-redis's 5 s blocking pop (redis-py's
            # default timeout is also 5 s: every consumer would drop every 5 s).
            "hosts": [{"address": CHANNELS_REDIS_URL, "socket_timeout": 30}],
            "prefix": os.environ.get("CHANNELS_PREFIX", "tq-channels:"),
        },
    }
}
if not CHANNELS_REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
