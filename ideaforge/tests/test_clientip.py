"""The client IP for lockouts and per-IP limits: the socket's address unless proxies are trusted."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from ideaforge.clientip import client_ip


def request(remote: str = "198.51.100.1", forwarded: str | None = None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_by_default_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request(forwarded="192.0.2.1")) == "198.51.100.1"


@pytest.mark.parametrize(
    "count,forwarded,expected",
    [
        (1, "203.0.113.5", "203.0.113.5"),  # one proxy appended the client
        (1, "192.0.2.66, 203.0.113.5", "203.0.113.5"),  # a forged entry on the left is skipped
        (2, "192.0.2.66, 203.0.113.5, 10.0.0.2", "203.0.113.5"),  # CDN, then our proxy
        (2, "203.0.113.5", "198.51.100.1"),  # fewer hops than proxies: the socket
        (1, "", "198.51.100.1"),
        (1, "not-an-address", "198.51.100.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_behind_trusted_proxies(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(request(forwarded=forwarded)) == expected
