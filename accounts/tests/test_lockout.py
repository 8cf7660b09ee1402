"""Login lockout (django-axes): per username and per client IP, on the login page and the admin login."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def attempt(username: str, password: str, *, ip: str, url: str = LOGIN, **headers: str):
    return Client(REMOTE_ADDR=ip, **headers).post(url, {"username": username, "password": password})


def fail(times: int, username: str, *, ip: str, url: str = LOGIN) -> list[int]:
    return [attempt(username, "wrong-password", ip=ip, url=url).status_code for _ in range(times)]


def test_defaults_are_five_failures_and_a_fifteen_minute_cooloff():
    limit, cooloff = settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME
    assert limit == 5 and cooloff == timedelta(minutes=15)


def test_a_username_is_locked_after_five_failures_from_any_address(alice, bob):
    # Wrong passwords answer 200 (the form again) until the 5th failure, which locks.
    assert fail(5, "alice", ip="198.51.100.1") == [200, 200, 200, 200, 429]
    # Even the right password from another address is refused now, with the lockout page.
    response = attempt("alice", "alice-password-123", ip="203.0.113.9")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed log-in attempts" in text and "15 minutes" in text
    assert "alice-password-123" not in text
    # Another user from that other address is not affected.
    assert attempt("bob", "bob-password-123", ip="203.0.113.9").status_code == 302


def test_an_address_is_locked_after_five_failures_across_usernames(alice):
    statuses = [attempt(f"guess{i}", "wrong-password", ip="198.51.100.2").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    assert attempt("alice", "alice-password-123", ip="198.51.100.2").status_code == 429
    assert attempt("alice", "alice-password-123", ip="198.51.100.3").status_code == 302


def test_the_admin_login_is_locked_out_too(django_user_model):
    django_user_model.objects.create_superuser("root", password="root-password-123")
    assert fail(5, "root", ip="198.51.100.4", url=ADMIN_LOGIN)[-1] == 429
    response = attempt("root", "root-password-123", ip="198.51.100.5", url=ADMIN_LOGIN)
    assert response.status_code == 429 and "Too many failed log-in attempts" in response.content.decode()


def test_the_lock_ends_after_the_cooloff(alice):
    from axes.models import AccessAttempt

    fail(5, "alice", ip="198.51.100.6")
    assert attempt("alice", "alice-password-123", ip="198.51.100.6").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert attempt("alice", "alice-password-123", ip="198.51.100.6").status_code == 302


def test_a_forged_x_forwarded_for_does_not_give_a_fresh_address(alice):
    # By default the client IP is REMOTE_ADDR: rotating the header does not escape the lock.
    for i in range(5):
        attempt(f"guess{i}", "wrong-password", ip="198.51.100.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    response = attempt("alice", "alice-password-123", ip="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_not_the_proxy(alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    for i in range(5):
        attempt(f"guess{i}", "wrong-password", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert attempt("alice", "alice-password-123", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 429
    # Another client behind the same proxy still logs in (the proxy's address is not locked).
    assert attempt("alice", "alice-password-123", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 302


def test_the_documented_reset_commands_lift_a_lock(alice, bob):
    from io import StringIO

    from django.core.management import call_command

    fail(5, "alice", ip="198.51.100.10")  # alice is locked everywhere
    for i in range(5):  # and this address for everyone
        attempt(f"guess{i}", "wrong-password", ip="198.51.100.11")
    listed = StringIO()
    call_command("axes_list_attempts", stdout=listed)
    assert "alice" in listed.getvalue() and "198.51.100.11" in listed.getvalue()

    call_command("axes_reset_username", "alice", stdout=StringIO())
    assert attempt("alice", "alice-password-123", ip="203.0.113.10").status_code == 302
    assert attempt("bob", "bob-password-123", ip="198.51.100.11").status_code == 429
    call_command("axes_reset_ip", "198.51.100.11", stdout=StringIO())
    assert attempt("bob", "bob-password-123", ip="198.51.100.11").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_the_lockout_works_under_asgi_too(alice):
    """Production serves ASGI, where django-axes's middleware takes its async path."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def attempts() -> tuple[list[int], str]:
        statuses = []
        for _ in range(5):
            response = await AsyncClient(REMOTE_ADDR="198.51.100.12").post(
                LOGIN, {"username": "alice", "password": "wrong-password"}
            )
            statuses.append(response.status_code)
        return statuses, response.content.decode()

    statuses, page = async_to_sync(attempts)()
    assert statuses == [200, 200, 200, 200, 429]
    assert "Too many failed log-in attempts" in page
