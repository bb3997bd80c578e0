"""Django settings for a CyberCoop node, read from the environment only (see README, "Configuration")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent


def env_str(name: str, default: str = "") -> str:
    """A string setting; `NAME_FILE` names a file holding it (for secrets mounted by the platform)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """A yes/no setting; anything but the listed spellings is an error, not a silent False."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    """An integer setting."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from error


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of words; anything else is an error, not a silent default."""
    value = env_str(name, default).strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    """A comma-separated list setting."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# scheme → (default port, STARTTLS after connecting, TLS from the first byte)
_EMAIL_SCHEMES = {"smtp": (25, False, False), "smtp+tls": (587, True, False), "smtps": (465, False, True)}


def parse_email_url(url: str) -> dict[str, Any]:
    """Django's e-mail settings from `CYBERCOOP_EMAIL_URL`; empty means the console backend.

    `smtp://user:pass@host:25` (plain), `smtp+tls://…` (STARTTLS, port 587 by default), `smtps://…`
    (TLS from the start, port 465 by default); user and password are percent-decoded. Anything else is
    refused, and the message never repeats the URL, which may hold a password.
    """
    if not url.strip():
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _EMAIL_SCHEMES:
        raise ImproperlyConfigured(
            f"CYBERCOOP_EMAIL_URL must start with smtp://, smtp+tls:// or smtps://, not {scheme or 'nothing'}://"
        )
    try:
        port = parts.port
    except ValueError as error:
        raise ImproperlyConfigured("CYBERCOOP_EMAIL_URL has a port that is not a number from 0 to 65535") from error
    if not parts.hostname:
        raise ImproperlyConfigured("CYBERCOOP_EMAIL_URL names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ImproperlyConfigured("CYBERCOOP_EMAIL_URL may hold only the user, password, host and port")
    default_port, use_tls, use_ssl = _EMAIL_SCHEMES[scheme]
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or default_port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }


# --- node and paths ---------------------------------------------------------------------------------
DATA_DIR = Path(env_str("CYBERCOOP_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
NODE_NAME = env_str("CYBERCOOP_NODE_NAME", "CyberCoop")
# Links to the other nodes of a demo, shown in the banner: "Label=URL,Label=URL".
DEMO_NODES = [tuple(item.split("=", 1)) for item in env_list("CYBERCOOP_DEMO_NODES", "") if "=" in item]
IS_DEMO = env_bool("CYBERCOOP_DEMO", False)

# --- federation (docs/federation.md) --------------------------------------------------------------
# This node's id in the directory ("secretariat", "kz", "ru" …); empty: a single node serving every body, where
# the `local` transport carries every message. Its public base URL, as the directory publishes it.
NODE_ID = env_str("CYBERCOOP_NODE_ID", "")
NODE_URL = env_str("CYBERCOOP_NODE_URL", "")
# The node's private keys (signing Ed25519, encryption X25519), written by `cybercoop node init`, mode 0600.
NODE_KEYS_FILE = Path(env_str("CYBERCOOP_NODE_KEYS", str(DATA_DIR / "node" / "keys.json")))
# Where the Secretariat's node publishes the directory, and its public key pinned here at `node init`.
DIRECTORY_URL = env_str("CYBERCOOP_DIRECTORY_URL", "")
DIRECTORY_KEY_FILE = Path(env_str("CYBERCOOP_DIRECTORY_KEY", str(DATA_DIR / "node" / "directory-key.pub.json")))
# TLS of the calls to other nodes: the CA bundle their server certificates are checked against (the system's
# trust store when empty), and this node's client certificate and key for peers that ask for one (mutual TLS).
FEDERATION_CA_FILE = env_str("CYBERCOOP_FEDERATION_CA", "")
FEDERATION_CLIENT_CERT = env_str("CYBERCOOP_FEDERATION_CLIENT_CERT", "")
FEDERATION_CLIENT_KEY = env_str("CYBERCOOP_FEDERATION_CLIENT_KEY", "")
# The largest attachment this node takes from another node (PUT /federation/v1/attachments/…), in bytes.
FEDERATION_MAX_ATTACHMENT_BYTES = env_int("CYBERCOOP_FEDERATION_MAX_ATTACHMENT_BYTES", 100 * 1024 * 1024)
# On the Secretariat's node only: the private key that signs the directory.
DIRECTORY_SIGNING_KEY_FILE = Path(
    env_str("CYBERCOOP_DIRECTORY_SIGNING_KEY", str(DATA_DIR / "node" / "directory-key.json"))
)

# --- official documents (documents.pki) -------------------------------------------------------------
# The key that encrypts the signers' and the certificate authorities' private keys at rest (AES-256-GCM),
# created on first use, mode 0600. Back it up with the database: without it the stored keys cannot be used.
DOCUMENTS_KEY_FILE = Path(env_str("CYBERCOOP_DOCUMENTS_KEY", str(DATA_DIR / "documents" / "keys.key")))
# The key that wraps each attachment's own key (docs/security-at-rest.md): created on first use, mode 0600.
ATTACHMENTS_KEY_FILE = Path(env_str("CYBERCOOP_ATTACHMENTS_KEY", str(DATA_DIR / "exchange" / "attachments.key")))
# The key that seals the second factor's TOTP secrets in the database (docs/security-at-rest.md, "Second-factor
# secrets"): created on first use, mode 0600. Back it up apart from the database: without it no code is accepted.
SECRETS_KEY_FILE = Path(env_str("CYBERCOOP_SECRETS_KEY", str(DATA_DIR / "accounts" / "secrets.key")))
# P6.5: every request must be signed by the head or a deputy when approved (a TOTP code at approval), and a
# request received unsigned is not registered where the requested Party's profile requires a signature. When
# false, a request is signed only if its approver holds a signing certificate.
SIGNING_REQUIRED = env_bool("CYBERCOOP_SIGNING_REQUIRED", False)

DEBUG = env_bool("CYBERCOOP_DEBUG", False)
HTTPS = env_bool("CYBERCOOP_HTTPS", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment; otherwise one generated once and kept in the data folder."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if HTTPS:
        raise ImproperlyConfigured("SECRET_KEY must be set in production (CYBERCOOP_HTTPS=true)")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CYBERCOOP_CSRF_TRUSTED_ORIGINS", "")

# --- applications -----------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",  # the second factor: at sign-in and for signing (accounts.services)
    # Domains, lowest first (docs/architecture.md).
    "cybercoop.core",
    "cybercoop.audit",
    "cybercoop.accounts",
    "cybercoop.registry",
    "cybercoop.exchange",
    "cybercoop.documents",
    "cybercoop.assistance",
    "cybercoop.demo",
]

MIDDLEWARE = [
    # The security headers first, so that every answer carries them: static files, redirects and refusals made by
    # the middleware below included (docs/security.md).
    "django.middleware.security.SecurityMiddleware",
    "cybercoop.core.middleware.PermissionsPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cybercoop.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the session gave a TOTP code
    "cybercoop.accounts.middleware.SecondFactorMiddleware",
    "cybercoop.accounts.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "cybercoop.core.middleware.ContentionMiddleware",  # a deadlock or lock timeout: 503, nothing changed
    # django-axes must come last (STACK-NOTES).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cybercoop.urls"
WSGI_APPLICATION = "cybercoop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "cybercoop.core.context_processors.node",
                "cybercoop.accounts.context_processors.notifications",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "cybercoop.sqlite3",
            "OPTIONS": {
                # Every atomic block takes the write lock at once, so two writers queue instead of
                # failing halfway (the audit chain appends under this lock).
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts and security --------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first, so a locked-out user is refused before any check
    "django.contrib.auth.backends.ModelBackend",  # passwords; permissions come from User.has_perm
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:sign_in"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:sign_in"

AXES_FAILURE_LIMIT = env_int("CYBERCOOP_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = env_int("CYBERCOOP_LOCKOUT_MINUTES", 15) / 60  # hours
# Lock the account, not the address: nodes sit behind a reverse proxy, where one address may be a
# whole office. Rate limiting by address belongs to the proxy (README, "Production").
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "cybercoop.accounts.views.locked_out"
AXES_VERBOSE = False
# A wrong TOTP code counts as a failed sign-in too (accounts.views.sign_in_code); like the password, it is masked in
# what django-axes records of the request.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "current_code"]

# Issue 7: who must give a TOTP code at sign-in. "signers": the head and the deputies must (they sign, P6.5), the
# others may enrol an authenticator and then give its codes too; "all": every user must (docs/security.md).
SECOND_FACTOR = env_choice("CYBERCOOP_SECOND_FACTOR", "signers", ("signers", "all"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("CYBERCOOP_SESSION_SECONDS", 8 * 3600)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Lets the domain's owner submit it to the browsers' preload list; the header alone submits nothing.
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# No page of a node uses the camera, the microphone, the position or payments (core.middleware).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
        "base-uri": [csp.NONE],
        "object-src": [csp.NONE],
    },
}

# --- languages and time -----------------------------------------------------------------------------
# P13: Russian is the working language and the default; Kazakh and English are full UI languages.
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("kk", _("Kazakh")), ("en", _("English"))]
LANGUAGE_COOKIE_NAME = "cybercoop_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = HTTPS
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

# --- static files -----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env_str("CYBERCOOP_STATIC_STORAGE", "whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}

# --- background work --------------------------------------------------------------------------------
# Tasks are rows in the database, taken by `cybercoop worker` with row locks (never an in-memory queue).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- e-mail -----------------------------------------------------------------------------------------
_EMAIL = parse_email_url(env_str("CYBERCOOP_EMAIL_URL"))
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _EMAIL.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _EMAIL.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _EMAIL.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _EMAIL.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 30  # seconds: a mail server that hangs must not hold the worker
DEFAULT_FROM_EMAIL = env_str("CYBERCOOP_EMAIL_FROM", "cybercoop@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- API ----------------------------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_CLASS = "cybercoop.core.api.BoundedPagination"

# --- logging ----------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cybercoop.core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env_str("CYBERCOOP_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
        # The worker drains the task queue every pass; its "starting"/"no more tasks" lines are noise.
        # Each task's start and outcome is still logged by django_tasks.
        "django_tasks_db": {"level": "WARNING"},
        # WeasyPrint logs each step of every render; pyHanko a traceback for every tampered document, whose
        # verification already says why it failed. Their warnings and errors still show.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        "pyhanko": {"level": "ERROR"},
    },
}
CSRF_FAILURE_VIEW = "cybercoop.core.views.csrf_failure"
FORMAT_MODULE_PATH = ["cybercoop.formats"]
DEPOSITARY_TIME_ZONE = env_str("CYBERCOOP_DEPOSITARY_TIME_ZONE", "Europe/Moscow")  # the CSTO Secretariat
MEDIA_ROOT = DATA_DIR / "media"
