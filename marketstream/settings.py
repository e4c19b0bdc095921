"""Django settings for MarketStream: the one place that reads the environment. `REDIS_URL`
(or `REDIS_SENTINELS`) selects the full stack; without it everything runs embedded in one
process (marketstream/backends.py, prices/deployment.py)."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from marketstream.backends import choose_backends
from marketstream.envvars import (
    env_bool,
    env_float,
    env_host_ports,
    env_int,
    env_list,
    env_str,
    require_production_settings,
)
from marketstream.logredact import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# Off unless asked for: a debug page shows settings (the Redis URL with its password among
# them) to whoever triggers an error. `make run` asks for it for the demo.
DEBUG = env_bool("DJANGO_DEBUG", False)
# Published in this repository, so it signs nothing outside development.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 - refused in production
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
# The hosts this site answers as, and the only Origins its WebSocket accepts
# (gateway/origins.py): the public host name(s).
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]
if not DEBUG:  # production refuses to start on development defaults (README "Production")
    require_production_settings(secret_key=SECRET_KEY, development_key=DEVELOPMENT_SECRET_KEY)

# HTTPS (with DEBUG off): `on` (default) redirects HTTP to HTTPS, sends HSTS and marks
# cookies secure; `proxy` trusts X-Forwarded-Proto from a TLS-terminating proxy that does
# the redirect itself; `off` serves plain HTTP (local testing only: check --deploy warns).
HTTPS = os.environ.get("DJANGO_HTTPS", "on").strip().lower() or "on"
if HTTPS not in {"on", "proxy", "off"}:
    raise ImproperlyConfigured(f"DJANGO_HTTPS must be on, proxy or off, not {HTTPS!r}")
SILENCED_SYSTEM_CHECKS: list[str] = []
if not DEBUG and HTTPS != "off":
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = HTTPS == "on"
    if HTTPS == "proxy":
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        SILENCED_SYSTEM_CHECKS.append("security.W008")  # the proxy redirects to HTTPS
# Django's defaults, relied on: HttpOnly session cookie, nosniff, same-origin referrer, and
# X-Frame-Options DENY (with the CSP's frame-ancestors below).
CSRF_FAILURE_VIEW = "gateway.jsonerrors.csrf_failure"  # JSON under /api/
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")  # also WebSocket origins

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_ratelimit",
    "axes",
    "ninja",  # its static Swagger UI for /api/v1/docs
    *("accounts", "orders", "alerts", "portfolio", "prices", "history", "screeners"),
    *("streams", "marketstream"),
]

MIDDLEWARE = [
    "prices.redisconn.FailFastMiddleware",  # first: a hung Redis costs a request one timeout
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "gateway.ratelimit.ApiRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its page
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in
    "django.contrib.auth.backends.ModelBackend",
]

# Pages load only their own scripts, styles and sockets: no inline script or style anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],  # fetch and the same-origin WebSocket (ws:/wss: under CSP 3)
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "marketstream.urls"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/screeners/"
LOGOUT_REDIRECT_URL = "/screeners/"
ASGI_APPLICATION = "marketstream.asgi.application"

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
                "prices.context_processors.index_strip",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Feed threads write heartbeats while pages read: wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files from daphne, from the finders: no collectstatic step. A
# deployment that collects them names the directory (unset: none, and no warning per process).
STATIC_ROOT = env_str("DJANGO_STATIC_ROOT", "") or None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG


# --- Redis, caches, channel layer, Celery -------------------------------------------
# High availability: REDIS_SENTINELS (and REDIS_SENTINEL_MASTER) instead of REDIS_URL puts
# every Redis user behind Sentinel (README "Redis high availability").
REDIS_SENTINELS = env_host_ports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Every Redis command gives up after this (prices/redisconn.py, the Django cache): a stalled
# Redis makes health answer `error` and pages render from what they have, never hang.
REDIS_SOCKET_TIMEOUT_SECONDS = env_float("REDIS_SOCKET_TIMEOUT_SECONDS", 1.0)
REDIS_CONNECT_TIMEOUT_SECONDS = env_float("REDIS_CONNECT_TIMEOUT_SECONDS", 1.0)
if REDIS_SENTINELS:
    REDIS_URL = "redis+sentinel://" + REDIS_SENTINEL_MASTER  # prices/redisconn.py
_backends = choose_backends(
    redis_url=REDIS_URL,
    sentinels=REDIS_SENTINELS,
    sentinel_master=REDIS_SENTINEL_MASTER,
    socket_timeout_seconds=REDIS_SOCKET_TIMEOUT_SECONDS,
    connect_timeout_seconds=REDIS_CONNECT_TIMEOUT_SECONDS,
)
CACHES = _backends.caches
CHANNEL_LAYERS = _backends.channel_layers
CELERY_BROKER_URL = _backends.celery_broker_url
CELERY_BROKER_TRANSPORT_OPTIONS = _backends.celery_broker_transport_options
SILENCED_SYSTEM_CHECKS += _backends.silenced_checks

CELERY_RESULT_BACKEND = None
# Embedded mode: tasks run in the calling process, so the feed thread lives in the web process.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ROUTES = {"streams.*": {"queue": "streams"}}
# After the close (IST; the jobs skip holidays): the day's bars, then the screens over them.
AFTER_CLOSE = {"history.after_close": 40, "screeners.after_close": 50}.items()  # min past 15
CELERY_BEAT_SCHEDULE = {
    "supervise-streams": {"task": "streams.supervise_streams", "schedule": 15.0},
    "refresh-portfolios": {"task": "portfolio.refresh", "schedule": 300.0},
    "screens-due": {"task": "screeners.run_due", "schedule": 60.0},  # every-N-minute screens
    **{t: {"task": t, "schedule": crontab(m, 15, day_of_week="1-5")} for t, m in AFTER_CLOSE},
}

# --- DhanHQ -------------------------------------------------------------------------
DHANHQ_CLIENT_ID = os.environ.get("DHANHQ_CLIENT_ID", "")
DHANHQ_ACCESS_TOKEN = os.environ.get("DHANHQ_ACCESS_TOKEN", "")
DHANHQ_FEED_URL = env_str("DHANHQ_FEED_URL", "wss://api-feed.dhan.co")
DHANHQ_API_URL = env_str("DHANHQ_API_URL", "https://api.dhan.co/v2")
DHANHQ_DEPTH_FEED_URL = env_str("DHANHQ_DEPTH_FEED_URL", "wss://depth-api-feed.dhan.co/twentydepth")
DHANHQ_WS_ENABLED = env_bool("DHANHQ_WS_ENABLED", True)
# The 20-level depth socket closes this long after its last watcher leaves.
DEPTH_IDLE_SECONDS = env_float("DEPTH_IDLE_SECONDS", 30)
DHANHQ_WS_MODE = os.environ.get("DHANHQ_WS_MODE", "quote").strip().lower() or "quote"

DHANHQ_WATCHDOG_SILENCE_SECONDS = env_float("DHANHQ_WATCHDOG_SILENCE_SECONDS", 30)
DHANHQ_RECONNECT_MAX_DELAY_SECONDS = env_float("DHANHQ_RECONNECT_MAX_DELAY_SECONDS", 30)
DHANHQ_RATE_LIMIT_COOL_OFF_SECONDS = env_float("DHANHQ_RATE_LIMIT_COOL_OFF_SECONDS", 60)
DEV_MODE = env_bool("DEV_MODE", False)
LTP_CACHE_TTL_SECONDS = env_int("LTP_CACHE_TTL_SECONDS", 30)
LTP_BROADCAST_INTERVAL_MS = env_int("LTP_BROADCAST_INTERVAL_MS", 1000)
HISTORY_INTRADAY_RETENTION_DAYS = env_int("HISTORY_INTRADAY_RETENTION_DAYS", 90)  # 1m bars

LOGGING = logging_config(os.environ.get("LOG_LEVEL", "INFO"))  # tokens redacted

# Screener pages stay public unless this is true; orders always need a login.
MARKETSTREAM_LOGIN_REQUIRED = env_bool("MARKETSTREAM_LOGIN_REQUIRED", False)
# Fernet keys for secrets at rest, the first encrypting (accounts/crypto.py; unset: a demo
# key under var/ in DEV_MODE or DEBUG, else refused).
MARKETSTREAM_ENCRYPTION_KEY = os.environ.get("MARKETSTREAM_ENCRYPTION_KEY", "")
# Live order updates: one socket per linked broker account, during these IST hours.
DHANHQ_ORDER_FEED_URL = os.environ.get("DHANHQ_ORDER_FEED_URL", "wss://api-order-update.dhan.co")
ORDER_FEED_START = os.environ.get("ORDER_FEED_START", "08:00")
ORDER_FEED_END = os.environ.get("ORDER_FEED_END", "16:30")
# Whether this process competes to be the alert evaluator (off: a worker for feeds only).
MARKETSTREAM_ALERT_EVALUATOR = env_bool("MARKETSTREAM_ALERT_EVALUATOR", True)
# Alert webhooks are retried 5 s, 10 s, 20 s ... (up to an hour) times this (tests: less).
ALERT_WEBHOOK_RETRY_SCALE = env_float("ALERT_WEBHOOK_RETRY_SCALE", 1)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# WebSocket messages per connection (prices/clientlimits.py): a token bucket; past it an
# `error`, and after this many refusals a close with 4429. A page sends a few a minute.
WS_MESSAGES_PER_SECOND = env_float("WS_MESSAGES_PER_SECOND", 10)
WS_MESSAGE_BURST = env_int("WS_MESSAGE_BURST", 50)
WS_FLOOD_REFUSALS_BEFORE_CLOSE = env_int("WS_FLOOD_REFUSALS_BEFORE_CLOSE", 20)

# JSON API rate limits (gateway/ratelimit.py): `N/s|m|h|d`, empty to turn one off.
API_RATE_LIMIT_PER_IP = os.environ.get("API_RATE_LIMIT_PER_IP", "1200/m").strip()
API_RATE_LIMIT_PER_USER = os.environ.get("API_RATE_LIMIT_PER_USER", "600/m").strip()
# Behind a proxy, the header with the client's address, one the proxy sets itself (e.g.
# HTTP_X_REAL_IP; X-Forwarded-For's first address is the client's to choose).
RATELIMIT_IP_META_KEY = os.environ.get("RATELIMIT_IP_META_KEY", "").strip() or None

# Open /ws/dashboard/ sockets per client address (as RATELIMIT_IP_META_KEY finds it) and
# web process: an office behind one NAT address fits. Past it the handshake is refused.
WS_MAX_CONNECTIONS_PER_IP = env_int("WS_MAX_CONNECTIONS_PER_IP", 500)
# The largest WebSocket message a client may send (bytes): a larger frame is closed with
# 1009 as it arrives; a larger message of smaller frames gets an `error`.
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 64 * 1024)

# Webhooks never reach this server's network (webhooks/), except the hosts, addresses or
# networks listed here: an operator's internal receivers.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS")

# Sign-in throttling (django-axes; counts in the database, shared by every web process):
# this many failures for a username or from an address lock both for LOGIN_LOCKOUT_MINUTES.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
# Refused broker-token checks a user may make (django-ratelimit's `N/period`).
BROKER_LINK_FAILURE_RATE = os.environ.get("BROKER_LINK_FAILURE_RATE", "5/h").strip()
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each alone: per address, per user
# A sign-in that works wipes nothing: else an attacker signing in as themselves every few
# guesses would reset the address's count against another user. Counts expire instead.
AXES_RESET_ON_SUCCESS = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # the admin's "Access failures"
AXES_VERBOSE = False  # no banner per process; lockouts are still logged
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.throttling.client_ip"  # RATELIMIT_IP_META_KEY's address
