"""The one settings module, read from the environment (DESIGN §8).

Every variable is parsed strictly by `portal.env`; an invalid value stops start-up with a
message naming it. Defaults suit `make run` (SQLite, embedded broker) only when DEBUG is
on; production must say what it means.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.env import (
    Env,
    example_values,
    parse_database_url,
    parse_email_url,
    parse_fernet_keys,
    secret_key_problem,
)

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", False)

SECRET_KEY = env.str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
    SECRET_KEY = "dev-only-insecure-key-for-make-run-and-tests-0123456789abcdef"
elif not DEBUG:
    _problem = secret_key_problem(
        SECRET_KEY, examples=example_values(str(BASE_DIR / ".env.example"), "SECRET_KEY")
    )
    if _problem:
        raise ImproperlyConfigured(f"{_problem}.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the portal's host names in production.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "portal.views.errors.csrf_failure"

# Links in emails point here.
SITE_URL = (env.url("SITE_URL", ("http", "https")) or "http://127.0.0.1:8000").rstrip("/")
# A demo partner API partners may start a draft from and test against (`make run` serves
# one here). Unset in production unless the platform runs one.
DEMO_PARTNER_URL = (
    env.url("DEMO_PARTNER_URL", ("http", "https")) or ("http://127.0.0.1:8765" if DEBUG else "")
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "portal",
    "integrations",
    "syncengine",
    "reviews",
    "syncs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads a body (the CSRF check and the NUL check read forms).
    "portal.middleware_input.RefuseLargeBodiesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Reviewers and platform admins enrol a second factor before anything else.
    "portal.two_factor.RequireTwoFactorForStaffMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Early, so a NUL never reaches a query; after CSP so its 400 carries the headers.
    "portal.middleware_input.RefuseNulMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.tenancy.CurrentOrgMiddleware",
]

if not DEBUG:
    # Production serves collected static files itself (gunicorn has no static handler).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "signin"
LOGIN_REDIRECT_URL = "home"
AUTHENTICATION_BACKENDS = [
    # Django's own (tests' `force_login`, the admin) and allauth's (sign-in by email, with
    # its rate limits and second factor).
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "portal.jinja.environment",
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "django.template.context_processors.csp",
                "django.contrib.messages.context_processors.messages",
                "portal.tenancy.context",
            ],
        },
    },
    {
        # The admin and DRF's browsable pages keep Django's own template language.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

DATABASE_URL = env.str("DATABASE_URL")
# Django takes a path where a file name goes (SQLite's NAME, the file cache's LOCATION).
DATABASES: dict[str, Mapping[str, Any]]
CACHES: dict[str, dict[str, object]]
if DATABASE_URL:
    DATABASES = {
        "default": parse_database_url(
            "DATABASE_URL",
            DATABASE_URL,
            conn_max_age=env.int("DB_CONN_MAX_AGE", 60, maximum=3600),
        )
    }
elif DEBUG:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "portal.sqlite3",
            "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
else:
    raise ImproperlyConfigured("DATABASE_URL must be set when DEBUG is false.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Broker: Redis when REDIS_URL is set, otherwise an embedded broker (kombu's filesystem
# transport under var/) so that a fresh machine needs nothing but Python.
REDIS_URL = env.url("REDIS_URL", ("redis", "rediss"))
if not REDIS_URL and not DEBUG:
    raise ImproperlyConfigured("REDIS_URL must be set when DEBUG is false.")
BROKER_DIR = VAR_DIR / "broker"

# Two caches. `default` lives in the database: allauth keeps its rate limits and the TOTP
# codes already used there, and signing in must keep working while Redis is down (the
# database is needed to sign in anyway). `progress` is Redis when there is one: cohort
# imports write their progress to it from inside a transaction nobody else can see yet,
# so it must not be the database.
ACCOUNTS_CACHE_TABLE = "portal_cache"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": ACCOUNTS_CACHE_TABLE,
        # Rate-limit histories must not be culled by a flood of other keys.
        "OPTIONS": {"MAX_ENTRIES": 200_000, "CULL_FREQUENCY": 10},
    },
    "progress": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portal",
        # A Redis that is down answers at once instead of holding a request.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
    }
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": VAR_DIR / "cache",
    },
}

# Email: EMAIL_URL, or the usual EMAIL_* variables; console output by default under DEBUG.
EMAIL_URL = env.str("EMAIL_URL")
if EMAIL_URL:
    MAILERS = {"default": parse_email_url("EMAIL_URL", EMAIL_URL)}
elif env.str("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env.str("EMAIL_HOST"),
                "port": env.int("EMAIL_PORT", 587, minimum=1, maximum=65535),
                "username": env.str("EMAIL_HOST_USER", ""),
                "password": env.str("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env.bool("EMAIL_USE_TLS", True),
                "use_ssl": env.bool("EMAIL_USE_SSL", False),
                "timeout": 10,
            },
        }
    }
elif DEBUG:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    raise ImproperlyConfigured("EMAIL_URL (or EMAIL_HOST) must be set when DEBUG is false.")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Cohort Portal <portal@localhost>")
INTEGRATIONS_TEAM_EMAIL = env.str("INTEGRATIONS_TEAM_EMAIL", "integrations@localhost")

# Secrets at rest: the first key encrypts, every key decrypts, so keys rotate by
# prepending a new one.
_keys = env.str("FIELD_ENCRYPTION_KEYS")
if _keys:
    FIELD_ENCRYPTION_KEYS = parse_fernet_keys("FIELD_ENCRYPTION_KEYS", _keys)
elif DEBUG:
    _derived = hashlib.sha256(b"field-encryption:" + SECRET_KEY.encode()).digest()
    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(_derived).decode()]
else:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set when DEBUG is false (comma-separated Fernet keys)."
    )

OUTBOUND_ALLOW_PRIVATE_NETWORKS = env.bool("OUTBOUND_ALLOW_PRIVATE_NETWORKS", False)
if OUTBOUND_ALLOW_PRIVATE_NETWORKS and not DEBUG:
    raise ImproperlyConfigured(
        "OUTBOUND_ALLOW_PRIVATE_NETWORKS=true is only allowed with DEBUG=true: it lets partner "
        "requests reach private and loopback addresses."
    )


def _env_seconds(name: str, default: float, *, maximum: float) -> float:
    """A non-negative number of seconds from the environment, refused unless it parses."""
    value = env.raw(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number of seconds.") from None
    if not 0 <= seconds <= maximum:  # also refuses nan
        raise ImproperlyConfigured(f"{name}={value} must be between 0 and {maximum:g}.")
    return seconds


# The wait before the second attempt of a partner request; later waits double from it
# (DESIGN §6: 1 s growing to about two minutes). Tests shorten it.
RETRY_BASE_DELAY_SECONDS = _env_seconds("RETRY_BASE_DELAY_SECONDS", 1.0, maximum=60.0)
# Extra keyword arguments for syncengine.core.http.OutboundClient (read_timeout, deadline,
# ...). Empty in every deployment: the limits are part of what partners are promised.
# Tests shorten them to exercise hostile partners quickly; a wrong key fails loudly.
OUTBOUND_CLIENT_OPTIONS: dict[str, float] = {}
# Background jobs (portal.jobs): a worker renews its lease every third of this; a job whose
# lease lapsed is closed or resumed by the next sweep. A queued job no worker took within
# the patience is closed as one that will never run.
JOB_LEASE_SECONDS = _env_seconds("JOB_LEASE_SECONDS", 30.0, maximum=600.0)
JOB_SWEEP_SECONDS = _env_seconds("JOB_SWEEP_SECONDS", 15.0, maximum=600.0)
JOB_QUEUE_PATIENCE_SECONDS = _env_seconds("JOB_QUEUE_PATIENCE_SECONDS", 600.0, maximum=86400.0)
# Cohort syncs (syncs/): a partner's wait longer than this (backoff, Retry-After, the
# destination's rate limit) puts the run back on the queue with a countdown instead of
# holding a worker asleep. Request and response bodies of sync runs are kept this many
# days for the delivery log (counts and statuses stay). /metrics answers only with
# `Authorization: Bearer <METRICS_TOKEN>`, and not at all while it is unset.
SYNC_MAX_WAIT_SECONDS = _env_seconds("SYNC_MAX_WAIT_SECONDS", 5.0, maximum=60.0)
SYNC_DISPATCH_SECONDS = _env_seconds("SYNC_DISPATCH_SECONDS", 30.0, maximum=3600.0)
SYNC_BODY_RETENTION_DAYS = env.int("SYNC_BODY_RETENTION_DAYS", 30, minimum=1, maximum=3650)
METRICS_TOKEN = env.str("METRICS_TOKEN", "")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Tests create many users; hashing with PBKDF2 at full strength would dominate their time.
if env.bool("FAST_PASSWORD_HASHING", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_ATTEMPT_LIMIT = env.int("LOGIN_ATTEMPT_LIMIT", 5, minimum=1, maximum=1000)
# How many proxies in front of the portal append to X-Forwarded-For (the TLS proxy of the
# docker-compose stack is one). 0: the connection's address is the client's. allauth reads
# the client address for its rate limits through the same number.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
LOGIN_ATTEMPT_WINDOW_SECONDS = env.int("LOGIN_ATTEMPT_WINDOW_SECONDS", 900, minimum=1)

# Accounts (django-allauth): sign-in by email, verified addresses, no answer that tells
# whether an account exists, a second factor (TOTP with recovery codes). See
# docs/decisions.md "Accounts on django-allauth".
ACCOUNT_ADAPTER = "portal.accounts.AccountAdapter"
ACCOUNT_FORMS = {"signup": "portal.accounts.SignupForm"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
# Confirming the address in the browser that signed up signs in there (allauth checks it
# is the same session); a link opened elsewhere asks for the password.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Cohort Portal: "
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "signin"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if not DEBUG else "http"
# Failed sign-ins: an address is stopped after 4× the limit within the window, an account
# (from every address together) after 10×, so a handful of wrong passwords locks nobody
# out. Password-reset mails: 3 an hour per email asked for, 10 an hour per address.
_signin_window = f"{LOGIN_ATTEMPT_WINDOW_SECONDS}s"
ACCOUNT_RATE_LIMITS = {
    "login_failed": f"{LOGIN_ATTEMPT_LIMIT * 4}/{_signin_window}/ip,"
    f"{LOGIN_ATTEMPT_LIMIT * 10}/{_signin_window}/key",
    "reset_password": "10/1h/ip,3/1h/key",
    "signup": "20/1h/ip",
}
MFA_ADAPTER = "portal.accounts.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Cohort Portal"
MFA_RECOVERY_CODE_COUNT = 10
MFA_RECOVERY_CODES_SHOW_ONCE = True
MFA_PASSKEY_LOGIN_ENABLED = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Cohort CSVs can be large; they stream to disk instead of memory. A request may carry at
# most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, judged by its Content-Length before it is read;
# views that take files say how large (portal.middleware_input.accepts_upload).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760

SECURE_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    # SECURE_COOKIES=false only for trying the production stack over plain HTTP on localhost.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    # Health checks come from inside the container or the load balancer, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy (the docker-compose stack, most hosts).
    if env.bool("TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.AppTaggedSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "portal.api.parsers.FormParser",
        "portal.api.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    # OPTIONS is not part of the API (the schema is at /api/schema/): 405, not DRF's
    # description of the view, which looks objects up with arguments some views lack.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_THROTTLE_RATES": {"signin": "10/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cohort Integration Developer Portal API",
    "DESCRIPTION": "Integrations, reviews, projects and cohorts. Authenticate with a "
    "personal API token (your account's API tokens page): `Authorization: Token <token>`.\n\n"
    "[← Back to the Cohort Portal](/)",
    # One tag per app, named in portal.api.schema.APP_TAGS, in the order readers meet them.
    "TAGS": [
        {
            "name": "Organisations",
            "description": "You, your organisation, its projects and cohorts, feature flags "
            "and access requests, the audit log.",
        },
        {
            "name": "Integrations",
            "description": "Drafts, their manifests and revisions, internal releases and the "
            "Destinations catalogue.",
        },
        {
            "name": "Testing",
            "description": "Test settings, test runs against your endpoint and their "
            "exchanges, signing secrets.",
        },
        {
            "name": "Reviews",
            "description": "Submissions, the review queue, comments, checks and decisions.",
        },
        {
            "name": "Connections",
            "description": "Your organisation's connections to destinations of the catalogue.",
        },
        {"name": "Cohort syncs", "description": "Cohorts sent through a connection."},
        {"name": "Sync runs", "description": "Each run of a sync, its batches and exchanges."},
    ],
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.document_errors_and_links",
    ],
    # Choice sets that share a field name with others get a name of their own.
    "ENUM_NAME_OVERRIDES": {
        "TestRunKindEnum": "syncengine.models.TestKind",
        "TestRunStatusEnum": "syncengine.models.TestStatus",
        "EndpointNameEnum": "syncengine.core.manifest.schema.ENDPOINT_ORDER",
    },
}

# Celery (DESIGN §6): late acks and a prefetch of one so a killed worker loses nothing.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    # Longer than the longest task, so Redis does not redeliver work still in progress; a
    # broker that cannot be reached is given up on within seconds (portal.jobs answers 503).
    {"visibility_timeout": 3600, "socket_connect_timeout": 3}
    if REDIS_URL
    else {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing tries three times within about two seconds, then gives up (portal.jobs).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 1.0,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 3000
CELERY_TASK_SOFT_TIME_LIMIT = 2700
# Apps above the ground floor add their own entries (their AppConfig.ready).
CELERY_BEAT_SCHEDULE = {
    "housekeeping": {"task": "portal.housekeeping", "schedule": 3600.0},
    "sweep-lapsed-jobs": {"task": "portal.sweep_lapsed_jobs", "schedule": JOB_SWEEP_SECONDS},
}

# The demo cohorts drift by themselves (`make run` turns this on), so that syncs have
# deltas to send. Demo data only: refused in production.
DEMO_CHURN = env.bool("DEMO_CHURN", False)
DEMO_CHURN_SECONDS = _env_seconds("DEMO_CHURN_SECONDS", 180.0, maximum=86400.0)
if DEMO_CHURN:
    if not DEBUG:
        raise ImproperlyConfigured("DEMO_CHURN=true is only allowed with DEBUG=true.")
    CELERY_BEAT_SCHEDULE["demo-churn"] = {
        "task": "portal.demo_churn",
        "schedule": DEMO_CHURN_SECONDS,
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"expected_refusals": {"()": "portal.logfilters.ExpectedRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # 4xx answers are logged in one line each, without a traceback.
        "django.request": {"filters": ["expected_refusals"]},
    },
}
