"""`manage.py check --deploy --fail-level WARNING` is clean with the production environment that
`.env.example` documents (every `NAME=value` line, commented or not, with its placeholders
filled in as it says), in a fresh process: settings are read once, at start."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

LINE = re.compile(r"^#?([A-Z][A-Z0-9_]*)=(.*)$")


def documented_production_env() -> dict[str, str]:
    env = {}
    for line in (Path(settings.BASE_DIR) / ".env.example").read_text().splitlines():
        match = LINE.match(line.strip())
        if match:
            name, value = match.groups()
            # "replace every change-me before production"; the encryption key is required there.
            value = (
                secrets.token_urlsafe(50)
                if value.startswith("change-me")
                else value.replace("change-me", secrets.token_urlsafe(16))
            )
            env[name] = value
    env["CREDENTIALS_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Nothing inherited from the test process (it runs with DJANGO_DEBUG=true).
    clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def production_env() -> dict[str, str]:
    env = documented_production_env()
    assert env["DJANGO_DEBUG"] == "false" and env["DJANGO_SECURE_HSTS_SECONDS"] == "31536000"
    return env


def test_the_documented_production_environment_passes_the_deploy_check(production_env):
    result = deploy_check(production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_is_on_by_default_in_production(production_env):
    defaults = {
        k: v for k, v in production_env.items() if k not in ("DJANGO_SECURE_HSTS_SECONDS", "DJANGO_SECURE_SSL_REDIRECT")
    }
    result = deploy_check(defaults)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_hsts_and_the_redirect_the_check_fails_as_it_did_before(production_env):
    result = deploy_check({**production_env, "DJANGO_SECURE_HSTS_SECONDS": "0", "DJANGO_SECURE_SSL_REDIRECT": "false"})
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr
