"""The Content-Security-Policy header on every kind of page (templates that need nothing inline:
agents/tests/test_views.py::test_no_inline_script_or_style_in_any_template)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    directives = [part.strip().split(None, 1) for part in header.split(";") if part.strip()]
    return dict(directives)


@pytest.fixture
def staff_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("operator", password="op-password-123"))
    return client


@pytest.mark.parametrize(
    "url",
    ["/accounts/login/", "/settings/providers/", "/forge/", "/admin/", "/admin/providers/providercredential/add/"],
)
def test_every_page_gets_the_strict_policy(staff_client, url):
    client = Client() if url == "/accounts/login/" else staff_client
    response = client.get(url)
    assert response.status_code == 200
    assert policy(response) == EXPECTED
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_an_error_page_gets_it_too(client):
    assert policy(client.get("/no-such-page/")) == EXPECTED
