"""Start-up configuration: invalid values stop the process with a message naming them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import Env, parse_email_url, parse_fernet_keys

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "t9!qv2#Lr8@pZ4mK6wX1yB3nC5dF7gH0jS2aE4uI6oP8rT0vY2bN4mQ6wE8rT0yU",
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "FIELD_ENCRYPTION_KEYS": "hZ3I0cR7iU9fQ8b2Lx6mD1sT5vW4yA0kN7pE3gJ2cX8=",
    "EMAIL_URL": "smtp://mailer:secret@mail.example.com:587?tls=true",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "OUTBOUND_ALLOW_PRIVATE_NETWORKS",
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "FIELD_ENCRYPTION_KEYS",
            "EMAIL_URL",
            "ALLOWED_HOSTS",
            "FAST_PASSWORD_HASHING",
            "DB_CONN_MAX_AGE",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "yes please", "DEBUG='yes please' is not a boolean"),
        ("DATABASE_URL", "mysql://db/portal", "DATABASE_URL must start with postgres://"),
        (
            "REDIS_URL",
            "http://127.0.0.1:6379",
            "REDIS_URL must be a URL starting with one of redis://",
        ),
        ("FIELD_ENCRYPTION_KEYS", "not-a-key", "FIELD_ENCRYPTION_KEYS: key 1 is not a Fernet key"),
        ("EMAIL_URL", "carrier-pigeon://coop", "EMAIL_URL must start with smtp://"),
        (
            "OUTBOUND_ALLOW_PRIVATE_NETWORKS",
            "true",
            "OUTBOUND_ALLOW_PRIVATE_NETWORKS=true is only allowed with DEBUG=true",
        ),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 50 characters"),
        (
            "SECRET_KEY",
            "change-me-to-a-long-random-string-of-at-least-fifty-characters-please",
            "SECRET_KEY is the placeholder from .env.example",
        ),
        ("SECRET_KEY", "a" * 64, "SECRET_KEY is too repetitive to be random"),
        ("SECRET_KEY", "k3Y!" * 16, "SECRET_KEY is too repetitive to be random"),
        ("SECRET_KEY", "correct-horse-battery-staple" * 2, "too repetitive"),
        (
            "SECRET_KEY",
            "django-insecure-" + "x8#Lq2@vN5pR9tW3zB6mC1fH4jK7sD0gAq7Z",
            "SECRET_KEY looks like a placeholder (it contains 'insecure')",
        ),
    ],
)
def test_an_invalid_value_stops_start_up_naming_the_variable(variable, value, message):
    result = manage("check", env={**PRODUCTION, variable: value})
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_generated_secret_keys_pass_and_the_example_file_is_read():
    import secrets

    from django.core.management.utils import get_random_secret_key

    from portal.env import example_values, secret_key_problem

    for _ in range(200):
        for key in (get_random_secret_key(), secrets.token_urlsafe(50), secrets.token_hex(32)):
            assert secret_key_problem(key) is None, key
    (placeholder,) = example_values(str(ROOT / ".env.example"), "SECRET_KEY")
    assert secret_key_problem(placeholder, examples=(placeholder,)) is not None


def test_production_requires_its_secrets():
    env = {key: value for key, value in PRODUCTION.items() if key != "FIELD_ENCRYPTION_KEYS"}
    result = manage("check", env=env)
    assert result.returncode == 2
    assert "FIELD_ENCRYPTION_KEYS must be set when DEBUG is false" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={**PRODUCTION, "TRUST_X_FORWARDED_PROTO": "true"},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_booleans_are_strict():
    assert Env({"X": "true"}).bool("X", False) is True
    assert Env({"X": "FALSE"}).bool("X", True) is False
    assert Env({}).bool("X", True) is True
    with pytest.raises(ImproperlyConfigured, match="X='maybe' is not a boolean"):
        Env({"X": "maybe"}).bool("X", False)


def test_email_url_forms():
    smtp = parse_email_url("EMAIL_URL", "smtp://u%40x:p%2Fw@mail.test:2525?tls=true")["OPTIONS"]
    assert smtp["host"] == "mail.test"
    assert smtp["port"] == 2525
    assert smtp["username"] == "u@x"
    assert smtp["password"] == "p/w"
    assert smtp["use_tls"] is True
    file_mailer = parse_email_url("EMAIL_URL", "file:///tmp/mail")
    assert file_mailer["OPTIONS"]["file_path"] == "/tmp/mail"
    with pytest.raises(ImproperlyConfigured, match="tls= must be true or false"):
        parse_email_url("EMAIL_URL", "smtp://mail.test?tls=sometimes")


def test_encryption_keys_rotate_first_encrypts_all_decrypt():
    keys = parse_fernet_keys(
        "K",
        "hZ3I0cR7iU9fQ8b2Lx6mD1sT5vW4yA0kN7pE3gJ2cX8=, "
        "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=",
    )
    assert len(keys) == 2
