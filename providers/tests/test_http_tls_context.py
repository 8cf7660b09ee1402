"""Every client from providers.http shares one TLS context (a fresh one costs tens of ms per client)."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from providers.http.client import new_async_client, new_client, shared_ssl_context


def _context(client):
    return client._transport._pool._ssl_context


@pytest.mark.parametrize("enforce_policy", [False, True])
def test_clients_share_one_verifying_context(enforce_policy):
    with new_client(enforce_policy=enforce_policy) as a, new_client(enforce_policy=not enforce_policy) as b:
        assert _context(a) is _context(b) is shared_ssl_context()
    ctx = shared_ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_async_clients_share_it_too():
    async def check():
        async with new_async_client(enforce_policy=True) as a, new_async_client(enforce_policy=False) as b:
            assert _context(a) is _context(b) is shared_ssl_context()

    asyncio.run(check())


def test_an_explicit_verify_is_kept():
    custom = ssl.create_default_context()
    with new_client(enforce_policy=True, verify=custom) as client:
        assert _context(client) is custom
