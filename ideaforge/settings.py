"""IdeaForge settings: every value comes from the environment, read here and only here.

`.env.example` lists every variable. The embedded default (no variables set, `DJANGO_DEBUG=true`
as `make run` does) is SQLite, a local-memory cache and no broker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF

from ideaforge.dbpool import pool_options

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def if_set(read: Callable[[str], Any], var: str) -> Any:
    """`read(var)` (`env`, `env.float`, ...) when the variable is set, even to "" (parsed as
    given); None when it is not, which the apps' `app_settings` read as "use the app's default"."""
    return read(var) if var in env else None


# Agno posts telemetry on every run unless told not to; the env var must be set before agno
# is imported (see docs/operations.md).
os.environ.setdefault("AGNO_TELEMETRY", env("AGNO_TELEMETRY", default="false"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# A development key only under DEBUG; production must set its own (checked by `manage.py check
# --deploy` and by Django refusing to start without one).
_DEV_SECRET_KEY = "django-insecure-ideaforge-development-only-key-do-not-use-in-production"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "accounts",
    "providers",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Request id (logs, run records, X-Request-ID) and the audit trail's actor and address.
    "providers.middleware.request_context_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Threads each ASGI worker runs requests' sync code on (sessions, the ORM, sync middleware),
# shared by the requests in flight instead of one new thread per request (ideaforge/asgi_threads.py).
ASGI_SYNC_THREADS = env.int("ASGI_SYNC_THREADS", default=8)

ROOT_URLCONF = "ideaforge.urls"
WSGI_APPLICATION = "ideaforge.wsgi.application"
ASGI_APPLICATION = "ideaforge.asgi.application"

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
                "accounts.context_processors.signup",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_sqlite = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# SQLite keeps its connections (opening one runs the PRAGMAs below and registers Django's SQL
# functions: about 0.3 ms a request); the ASGI handler keeps the threads that own them
# (ideaforge/asgi_threads.py). PostgreSQL reuses connections through its pool instead.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=600 if _sqlite else 0))
# PostgreSQL: a connection pool per process (ideaforge/dbpool.py, sizes in docs/deployment.md).
_pool = pool_options(
    DATABASES["default"],
    enabled=env.bool("DATABASE_POOL", default=True),
    min_size=env.int("DATABASE_POOL_MIN_SIZE", default=2),
    max_size=env.int("DATABASE_POOL_MAX_SIZE", default=10),
    timeout=env.float("DATABASE_POOL_TIMEOUT", default=10.0),
)
if _pool is not None:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool
# Behind PgBouncer in transaction mode (docs/deployment.md): `.iterator()` must not use them.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False)
if _sqlite:
    # Several threads (token refresh, streaming views) write at once; wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    # WAL with synchronous=NORMAL: a commit no longer waits for an fsync (about 1.5 ms each, two
    # per agent run for its record), yet stays durable across a process crash (only an OS crash or
    # power loss may drop the last commits); readers no longer block the writer. Django 5.1+ runs
    # `init_command` on every new SQLite connection.
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared state (gateway tokens, refresh locks, circuit breakers). With REDIS_URL every web
# and Celery process shares it; without, each process keeps its own.
REDIS_URL = env("REDIS_URL", default="")
CACHE_KEY_PREFIX = env("CACHE_KEY_PREFIX", default="ideaforge")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache that degrades to per-process state while Redis is down or hung.
            "BACKEND": "providers.softcache.SoftRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Rate limits (ideaforge/ratelimit.py): shared through Redis when there is one, else per process.
RATELIMIT_STORAGE_URL = REDIS_URL or "memory://"
RATELIMIT_KEY_PREFIX = f"{CACHE_KEY_PREFIX}:limits"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))

SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Security: transport, sessions, login lockout, sign-up, CSP (docs/security.md) ------------
# HTTPS only in production: redirect http to https, and tell browsers (HSTS) to never use http.
# Behind a TLS-terminating proxy, either let it redirect (DJANGO_SECURE_SSL_REDIRECT=false) or
# trust its X-Forwarded-Proto (DJANGO_SECURE_PROXY_SSL_HEADER=true, only if the proxy always
# sets it: a client could otherwise claim https).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
_TRUST_FORWARDED_PROTO = env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _TRUST_FORWARDED_PROTO else None
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Consent to the browsers' preload list: hard to undo, so an explicit operator decision.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Django's default (two weeks); the session key changes on login and on password change.
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)

# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR and
# ignore the header). Decides the client IP for login lockouts and per-IP limits
# (ideaforge/clientip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Login lockout (django-axes) on the login page and the admin login: after AXES_FAILURE_LIMIT
# failures for one username, or from one IP, that username / IP is refused for the cool-off.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_CLIENT_IP_CALLABLE = "ideaforge.clientip.client_ip"
# A success must not wipe the failures: an attacker with one valid account could reset their IP's count.
AXES_RESET_ON_SUCCESS = False

# Sign-up: open in development, closed in production unless the operator opens it.
ACCOUNTS_SIGNUP_OPEN = env.bool("ACCOUNTS_SIGNUP_OPEN", default=DEBUG)
ACCOUNTS_SIGNUP_RATE_LIMIT = env("ACCOUNTS_SIGNUP_RATE_LIMIT", default="5/hour")

# Error reports also hide locals and dict keys named like secrets (ideaforge/errorreports.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "ideaforge.errorreports.SecretSafeExceptionReporterFilter"

# Content-Security-Policy on every response (django-csp): our own scripts and styles only, no
# inline code, no framing. Templates keep script and style in static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# --- Credentials encryption -------------------------------------------------------------------
# Fernet keys, comma separated: the first encrypts, all decrypt (rotation: put the new key first,
# run `manage.py providers_rotate_keys`, then drop the old one). Independent of SECRET_KEY.
# Under DEBUG a fixed development key is used when none is set (a warning says so).
CREDENTIALS_ENCRYPTION_KEYS = env.list("CREDENTIALS_ENCRYPTION_KEYS", default=[])

# --- Providers --------------------------------------------------------------------------------
# App settings (here, under Agents, and the token pre-refresh under Celery) are read with
# `if_set`: no default here, each lives once in providers/conf.py or agents/conf.py.
PROVIDERS_BACKENDS = [
    "providers.backends.openai.OpenAIBackend",
    "providers.backends.anthropic.AnthropicBackend",
    "providers.backends.gemini.GeminiBackend",
    "providers.backends.ai_gateway.AIGatewayBackend",
]
# Where the public providers live. Operator settings (proxies, tests), never user fields.
PROVIDERS_OPENAI_BASE_URL = if_set(env, "OPENAI_BASE_URL")
PROVIDERS_ANTHROPIC_BASE_URL = if_set(env, "ANTHROPIC_BASE_URL")
PROVIDERS_GEMINI_BASE_URL = if_set(env, "GEMINI_BASE_URL")
# Outbound HTTP bounds, for every provider call.
PROVIDERS_HTTP_CONNECT_TIMEOUT = if_set(env.float, "PROVIDERS_HTTP_CONNECT_TIMEOUT")
PROVIDERS_HTTP_READ_TIMEOUT = if_set(env.float, "PROVIDERS_HTTP_READ_TIMEOUT")
PROVIDERS_HTTP_MAX_RESPONSE_BYTES = if_set(env.int, "PROVIDERS_HTTP_MAX_RESPONSE_BYTES")
# The same for a whole streamed answer (SSE), larger: a long completion sends its text several times over in JSON.
PROVIDERS_STREAM_MAX_BYTES = if_set(env.int, "PROVIDERS_STREAM_MAX_BYTES")
# Total bound on one credential verification (token grant and model list together): per-read
# timeouts alone let a trickling server hold a verify for minutes.
PROVIDERS_VERIFY_TIMEOUT = if_set(env.float, "PROVIDERS_VERIFY_TIMEOUT")
# AI Gateway client (providers/gateway/): the longest silence allowed between two stream chunks,
# the bound on one whole call (retries and stream included), and the retry policy: 429 with a
# Retry-After up to RETRY_AFTER_MAX seconds is waited out, a longer one fails fast.
PROVIDERS_STREAM_IDLE_TIMEOUT = if_set(env.float, "PROVIDERS_STREAM_IDLE_TIMEOUT")
PROVIDERS_GATEWAY_TOTAL_TIMEOUT = if_set(env.float, "PROVIDERS_GATEWAY_TOTAL_TIMEOUT")
PROVIDERS_GATEWAY_MAX_RETRIES = if_set(env.int, "PROVIDERS_GATEWAY_MAX_RETRIES")
PROVIDERS_GATEWAY_RETRY_AFTER_MAX = if_set(env.float, "PROVIDERS_GATEWAY_RETRY_AFTER_MAX")
# Token manager: lifetime assumed when the token endpoint sends no expires_in (RFC 6749 §5.1),
# the token request's timeout (shorter than the cross-process refresh lease), and how long a
# failed refresh is remembered so that a crowd of callers does not hammer a failing endpoint.
PROVIDERS_TOKEN_DEFAULT_LIFETIME = if_set(env.float, "PROVIDERS_TOKEN_DEFAULT_LIFETIME")
PROVIDERS_TOKEN_REQUEST_TIMEOUT = if_set(env.float, "PROVIDERS_TOKEN_REQUEST_TIMEOUT")
PROVIDERS_TOKEN_NEGATIVE_CACHE_SECONDS = if_set(env.float, "PROVIDERS_TOKEN_NEGATIVE_CACHE_SECONDS")
# Redis is a soft dependency: socket timeouts for every Redis call (cache and token store), and
# how long an outage is remembered (requests use per-process state) before Redis is tried again.
PROVIDERS_REDIS_SOCKET_TIMEOUT = if_set(env.float, "PROVIDERS_REDIS_SOCKET_TIMEOUT")
PROVIDERS_REDIS_RETRY_SECONDS = if_set(env.float, "PROVIDERS_REDIS_RETRY_SECONDS")
# URL policy for user-set URLs (gateway base URL and token URL); its defaults are relaxed under DEBUG.
PROVIDERS_REQUIRE_HTTPS = if_set(env.bool, "PROVIDERS_REQUIRE_HTTPS")
PROVIDERS_ALLOW_LOOPBACK_URLS = if_set(env.bool, "PROVIDERS_ALLOW_LOOPBACK_URLS")
PROVIDERS_ALLOW_PRIVATE_URLS = if_set(env.bool, "PROVIDERS_ALLOW_PRIVATE_URLS")
AI_GATEWAY_ALLOWED_HOSTS = if_set(env.list, "AI_GATEWAY_ALLOWED_HOSTS")
# Each verify or save of a credential calls the provider: a per-user budget (`limits` notation)
# keeps the settings page and the API from being used as a free outbound request tool.
PROVIDERS_VERIFY_RATE_LIMIT = if_set(env, "PROVIDERS_VERIFY_RATE_LIMIT")
# Agent runs (requests) and tokens per credential and per (credential, model); empty = no limit.
PROVIDERS_CREDENTIAL_RATE_LIMIT = if_set(env, "PROVIDERS_CREDENTIAL_RATE_LIMIT")
PROVIDERS_CREDENTIAL_TOKEN_LIMIT = if_set(env, "PROVIDERS_CREDENTIAL_TOKEN_LIMIT")
PROVIDERS_MODEL_RATE_LIMIT = if_set(env, "PROVIDERS_MODEL_RATE_LIMIT")
PROVIDERS_MODEL_TOKEN_LIMIT = if_set(env, "PROVIDERS_MODEL_TOKEN_LIMIT")

# Platform defaults (the operator's own credentials), used after a user's own.
AI_GATEWAY_ENABLED = if_set(env.bool, "AI_GATEWAY_ENABLED")
AI_GATEWAY_CLIENT_ID = if_set(env, "AI_GATEWAY_CLIENT_ID")
AI_GATEWAY_CLIENT_SECRET = if_set(env, "AI_GATEWAY_CLIENT_SECRET")
AI_GATEWAY_BASE_URL = if_set(env, "AI_GATEWAY_BASE_URL")
AI_GATEWAY_TOKEN_URL = if_set(env, "AI_GATEWAY_TOKEN_URL")
AI_GATEWAY_SCOPE = if_set(env, "AI_GATEWAY_SCOPE")
AI_GATEWAY_TOKEN_AUTH_METHOD = if_set(env, "AI_GATEWAY_TOKEN_AUTH_METHOD")
AI_GATEWAY_DEFAULT_MODEL = if_set(env, "AI_GATEWAY_DEFAULT_MODEL")
AI_GATEWAY_FAST_MODEL = if_set(env, "AI_GATEWAY_FAST_MODEL")
AI_GATEWAY_STANDARD_MODEL = if_set(env, "AI_GATEWAY_STANDARD_MODEL")
AI_GATEWAY_PREMIUM_MODEL = if_set(env, "AI_GATEWAY_PREMIUM_MODEL")
OPENAI_API_KEY = if_set(env, "OPENAI_API_KEY")
ANTHROPIC_API_KEY = if_set(env, "ANTHROPIC_API_KEY")
GEMINI_API_KEY = if_set(env, "GEMINI_API_KEY")

# --- Agents -----------------------------------------------------------------------------------
# The circuit breaker per (credential, model), shared across processes through the cache (Redis);
# it replaces AGENTS_COOLDOWN_SECONDS. A 429 with a Retry-After up to AGENTS_MAX_RETRY_WAIT is
# waited out once; AGENTS_RUN_TIMEOUT bounds one agent attempt (docs/configuration.md).
AGENTS_BREAKER_FAILURES = if_set(env.int, "AGENTS_BREAKER_FAILURES")
AGENTS_BREAKER_WINDOW = if_set(env.float, "AGENTS_BREAKER_WINDOW")
AGENTS_BREAKER_OPEN_SECONDS = if_set(env.float, "AGENTS_BREAKER_OPEN_SECONDS")
AGENTS_MAX_RETRY_WAIT = if_set(env.float, "AGENTS_MAX_RETRY_WAIT")
AGENTS_RUN_TIMEOUT = if_set(env.float, "AGENTS_RUN_TIMEOUT")
# A user's agent runs and tokens per window (`limits` notation, empty = no limit); per-user
# overrides in the admin (agents.UsageLimits).
AGENTS_USER_RATE_LIMIT = if_set(env, "AGENTS_USER_RATE_LIMIT")
AGENTS_USER_TOKEN_LIMIT = if_set(env, "AGENTS_USER_TOKEN_LIMIT")
# Per-user token budgets per day and per calendar month, UTC (0 = none; overrides in the admin).
AGENTS_DAILY_TOKEN_BUDGET = if_set(env.int, "AGENTS_DAILY_TOKEN_BUDGET")
AGENTS_MONTHLY_TOKEN_BUDGET = if_set(env.int, "AGENTS_MONTHLY_TOKEN_BUDGET")
# Bytes of one cached agent answer (agents with `cache_ttl`); larger ones are not cached.
AGENTS_RESPONSE_CACHE_MAX_BYTES = if_set(env.int, "AGENTS_RESPONSE_CACHE_MAX_BYTES")

# --- Monitoring (docs/operations.md) ------------------------------------------------------------
# /readyz: which of database, cache, broker must be up for 200 (the others are only reported).
HEALTH_REQUIRED = if_set(env.list, "HEALTH_REQUIRED")
# /metrics: a staff session, or `Authorization: Bearer <METRICS_TOKEN>`; 404 to anyone else.
METRICS_TOKEN = if_set(env, "METRICS_TOKEN")
# prometheus_client reads this variable itself at import (multiprocess mode); empty it before start.
PROMETHEUS_MULTIPROC_DIR = if_set(env, "PROMETHEUS_MULTIPROC_DIR")

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Results are not needed by the app (tasks are fire-and-forget); tests and operators may set one.
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
# Queue for tasks sent without an explicit one (several deployments can share one Redis).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Redis redelivers a task not acknowledged within this many seconds (acks_late): refresh tasks
# are idempotent, and this is well above their bounded run time.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
# Publishing to a broker that is down gives up after about a second (one log line, no crash).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# Gateway token pre-refresh: every INTERVAL seconds, tokens expiring within MARGIN seconds (or
# not cached at all) are refreshed by a worker, so request paths rarely wait on the token endpoint.
# The beat schedule is built from the interval in ideaforge/celery.py.
PROVIDERS_TOKEN_REFRESH_INTERVAL = if_set(env.float, "PROVIDERS_TOKEN_REFRESH_INTERVAL")
PROVIDERS_TOKEN_REFRESH_MARGIN = if_set(env.float, "PROVIDERS_TOKEN_REFRESH_MARGIN")
# Local state of the processes (Celery beat's schedule file), git-ignored; default var/.
IDEAFORGE_STATE_DIR = if_set(env, "IDEAFORGE_STATE_DIR")

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = if_set(env, "LOG_FORMAT")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # LOG_FORMAT (plain or json) is read by providers.logformat.formatter when logging is set up.
    "formatters": {"plain": {"()": "providers.logformat.formatter"}},
    "filters": {"request_id": {"()": "providers.logformat.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # agno writes to stdout at INFO on every run; keep it to warnings, through our handler.
        "agno": {"handlers": ["console"], "level": env("AGNO_LOG_LEVEL", default="WARNING"), "propagate": False},
        # httpx logs every request URL at INFO; our own code logs what matters.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # The openai/anthropic/google-genai SDKs run on httpx2, which logs the same way.
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
    },
}
