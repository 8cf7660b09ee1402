"""providers.http: client factories, connect-time URL policy, capped reads, error mapping (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from providers.exceptions import (
    BadRequest,
    CredentialInvalid,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ResponseTooLarge,
    UnexpectedResponse,
    URLNotAllowed,
)
from providers.http.client import (
    aget_json,
    cap_response,
    default_timeout,
    get_json,
    new_async_client,
    new_client,
    new_sdk_client,
    read_capped,
    shared_ssl_context,
)
from providers.http.errors import error_for_response, parse_retry_after
from providers.http.transports import policy_transports
from providers.testing.server import LocalServer, SimulatorHandler


class _Handler(SimulatorHandler):
    def do_GET(self) -> None:
        self.record()
        if self.apply_fault():
            return
        if self.path_only == "/chunked":
            # No Content-Length: the cap must hold while streaming.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(50):
                    chunk = b" " * 1000
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if self.path_only == "/notjson":
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_json(200, {"ok": True, "path": self.path_only})


class _Server(LocalServer):
    handler_class = _Handler


@pytest.fixture
def server():
    with _Server() as srv:
        yield srv


def test_policy_transport_refuses_loopback_at_connect_time(server, production):
    # validate_url() is skipped on purpose: the transport must still refuse.
    with new_client(enforce_policy=True) as client:
        with pytest.raises(URLNotAllowed, match=r"127\.0\.0\.1"):
            client.get(f"http://localhost:{server.port}/x")
        with pytest.raises(URLNotAllowed):
            client.get(f"{server.url}/x")
    assert server.counts["/x"] == 0


def test_policy_transport_async_refuses_loopback(server, production):
    async def go():
        async with new_async_client(enforce_policy=True) as client:
            await client.get(f"http://localhost:{server.port}/x")

    with pytest.raises(URLNotAllowed):
        asyncio.run(go())
    assert server.counts["/x"] == 0


def test_policy_transport_connects_when_allowed(server, production):
    production.AI_GATEWAY_ALLOWED_HOSTS = [f"localhost:{server.port}"]
    with new_client(enforce_policy=True) as client:
        response = client.get(f"http://localhost:{server.port}/x")
    assert response.json() == {"ok": True, "path": "/x"}
    # The Host header stays the name even though we connected to the checked IP.
    assert server.requests[-1].headers["Host"] == f"localhost:{server.port}"


@pytest.mark.parametrize("sync", [True, False])
def test_httpx2_policy_client_refuses_a_name_resolving_to_loopback(server, production, sync):
    # The openai SDK's stack gets the same connect-time check (same backend definition).
    import httpx2

    url = f"http://localhost:{server.port}/x"
    client = new_sdk_client(sync=sync, enforce_policy=True)
    assert isinstance(client, httpx2.Client if sync else httpx2.AsyncClient)
    assert isinstance(client._transport, policy_transports(httpx2)[0 if sync else 1])
    with pytest.raises(URLNotAllowed, match=r"127\.0\.0\.1"):
        if sync:
            with client:
                client.get(url)
        else:

            async def go():
                async with client:
                    await client.get(url)

            asyncio.run(go())
    assert server.counts["/x"] == 0

    production.AI_GATEWAY_ALLOWED_HOSTS = [f"localhost:{server.port}"]
    with new_sdk_client(sync=True, enforce_policy=True) as allowed:
        assert allowed.get(url).json() == {"ok": True, "path": "/x"}
        assert allowed.timeout.connect == default_timeout().connect
    assert server.requests[-1].headers["Host"] == f"localhost:{server.port}"


def test_httpx2_client_without_policy_and_shared_tls_context(server, production):
    with new_sdk_client(sync=True, enforce_policy=False) as client:
        assert client.get(f"http://localhost:{server.port}/x").status_code == 200
        assert client._transport._pool._ssl_context is shared_ssl_context()
    with new_sdk_client(sync=True, enforce_policy=True) as client:
        assert client._transport._pool._ssl_context is shared_ssl_context()


def test_policy_transport_under_debug_reaches_local_server(server):
    with new_client(enforce_policy=True) as client:
        assert client.get(f"{server.url}/x").status_code == 200

    async def go():
        async with new_async_client(enforce_policy=True) as client:
            return (await client.get(f"http://localhost:{server.port}/x")).status_code

    assert asyncio.run(go()) == 200


def test_unenforced_client_reaches_loopback_in_production(server, production):
    # Public providers' base URLs are operator settings: no address policy there.
    with new_client(enforce_policy=False) as client:
        assert client.get(f"{server.url}/x").status_code == 200


def test_enforced_client_refuses_custom_transport():
    with pytest.raises(TypeError):
        new_client(enforce_policy=True, transport=httpx.HTTPTransport())


def test_clients_use_configured_timeouts_and_no_redirects(settings):
    settings.PROVIDERS_HTTP_CONNECT_TIMEOUT = 1.5
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 7.0
    with new_client(enforce_policy=False) as client:
        assert client.timeout.connect == 1.5 and client.timeout.read == 7.0
        assert client.follow_redirects is False


def test_get_json_ok(server):
    with new_client(enforce_policy=False) as client:
        assert get_json(client, f"{server.url}/a", provider="test") == {"ok": True, "path": "/a"}


def test_aget_json_ok(server):
    async def go():
        async with new_async_client(enforce_policy=False) as client:
            return await aget_json(client, f"{server.url}/a", provider="test")

    assert asyncio.run(go())["ok"] is True


def test_oversized_body_by_content_length(server, settings):
    settings.PROVIDERS_HTTP_MAX_RESPONSE_BYTES = 1000
    server.inject(path_prefix="/big", status=200, oversize=5000)
    with new_client(enforce_policy=False) as client, pytest.raises(ResponseTooLarge) as info:
        get_json(client, f"{server.url}/big", provider="test")
    assert info.value.provider == "test"


def test_oversized_chunked_body(server, settings):
    settings.PROVIDERS_HTTP_MAX_RESPONSE_BYTES = 10_000
    with new_client(enforce_policy=False) as client:
        with pytest.raises(ResponseTooLarge):
            get_json(client, f"{server.url}/chunked", provider="test")
        with client.stream("GET", f"{server.url}/chunked") as response:
            assert len(read_capped(response, limit=60_000)) == 50_000

    async def go():
        async with new_async_client(enforce_policy=False) as client:
            await aget_json(client, f"{server.url}/chunked", provider="test")

    with pytest.raises(ResponseTooLarge):
        asyncio.run(go())


def test_not_json(server):
    with new_client(enforce_policy=False) as client, pytest.raises(UnexpectedResponse, match="not JSON"):
        get_json(client, f"{server.url}/notjson", provider="test")


@pytest.mark.parametrize(
    "status, error_type",
    [
        (401, CredentialInvalid),
        (403, CredentialInvalid),
        (429, RateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
        (400, BadRequest),
        (404, BadRequest),
        (302, UnexpectedResponse),
    ],
)
def test_status_mapping(server, status, error_type):
    server.inject(
        path_prefix="/e",
        status=status,
        body={"error": {"type": "some_error", "message": "Incorrect API key provided: sk-abcdefghijklmnop1234"}},
    )
    with new_client(enforce_policy=False) as client, pytest.raises(error_type) as info:
        get_json(client, f"{server.url}/e", provider="openai", headers={"Authorization": "Bearer sk-canary-9876"})
    error = info.value
    assert error.status_code == status and error.provider == "openai"
    message = str(error)
    assert f"HTTP {status}" in message
    assert "sk-canary-9876" not in message and "sk-abcdefghijklmnop1234" not in message
    if status != 302:
        assert "some_error" in message


def test_redirect_not_followed(server):
    with _Server() as other:
        server.inject(path_prefix="/r", redirect_to=f"{other.url}/stolen")
        with new_client(enforce_policy=False) as client:
            with pytest.raises(UnexpectedResponse, match="redirect not followed"):
                get_json(client, f"{server.url}/r", provider="test", headers={"Authorization": "Bearer x"})
        assert sum(other.counts.values()) == 0


def test_retry_after_seconds_and_date(server):
    server.inject(path_prefix="/s", status=429, headers={"Retry-After": "17"})
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    server.inject(path_prefix="/d", status=429, headers={"Retry-After": future})
    with new_client(enforce_policy=False) as client:
        with pytest.raises(RateLimited) as seconds:
            get_json(client, f"{server.url}/s", provider="test")
        with pytest.raises(RateLimited) as date:
            get_json(client, f"{server.url}/d", provider="test")
    assert seconds.value.retry_after == 17
    assert 100 < date.value.retry_after <= 120
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_timeout(server, settings):
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 0.2
    server.inject(path_prefix="/slow", status=200, delay=1.0)
    with new_client(enforce_policy=False) as client, pytest.raises(ProviderTimeout):
        get_json(client, f"{server.url}/slow", provider="test")


def test_connection_refused():
    with _Server() as probe:
        port = probe.port
    # Nothing listens there any more.
    with new_client(enforce_policy=False) as client, pytest.raises(ProviderUnavailable) as info:
        get_json(client, f"http://127.0.0.1:{port}/x", provider="test")
    assert not isinstance(info.value, ProviderTimeout)


def test_error_mapping_needs_no_read_body():
    request = httpx.Request("GET", "https://example.invalid/")
    assert error_for_response(httpx.Response(200, request=request), provider="p") is None
    error = error_for_response(httpx.Response(401, json={"error": "invalid_client"}, request=request), provider="p")
    assert isinstance(error, CredentialInvalid) and "invalid_client" in str(error)


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_cap_response_bounds_a_chunked_body_read_by_someone_else(server, stack):
    # /chunked sends 50_000 bytes without a Content-Length.
    make = new_client if stack == "httpx" else (lambda **kw: new_sdk_client(sync=True, **kw))
    with make(enforce_policy=False) as client:
        with client.stream("GET", f"{server.url}/chunked") as response:
            cap_response(response, limit=10_000, provider="p")
            with pytest.raises(ResponseTooLarge, match="10000-byte") as caught:
                response.read()
        assert caught.value.provider == "p"
        with client.stream("GET", f"{server.url}/chunked") as response:
            cap_response(response, limit=50_000)
            assert len(response.read()) == 50_000  # exactly at the cap is fine

    async def go():
        make_async = new_async_client if stack == "httpx" else (lambda **kw: new_sdk_client(sync=False, **kw))
        async with make_async(enforce_policy=False) as client:
            async with client.stream("GET", f"{server.url}/chunked") as response:
                cap_response(response, limit=10_000)
                await response.aread()

    with pytest.raises(ResponseTooLarge):
        asyncio.run(go())
    with new_client(enforce_policy=False) as client, client.stream("GET", f"{server.url}/x") as response:
        with pytest.raises(ResponseTooLarge):  # a declared length over the cap: refused at once
            cap_response(response, limit=5)


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_clients_ask_for_identity_and_cap_response_refuses_a_compressed_answer(server, stack):
    # 1 MB of zeros gzips to ~1 KB: counting wire bytes would let it through, so it is refused.
    bomb = gzip.compress(b"0" * 1_000_000)
    server.inject(path_prefix="/gz", status=200, body=bomb, headers={"Content-Encoding": "gzip"})
    make = new_client if stack == "httpx" else (lambda **kw: new_sdk_client(sync=True, **kw))
    with make(enforce_policy=False) as client, client.stream("GET", f"{server.url}/gz") as response:
        with pytest.raises(UnexpectedResponse, match="gzip-encoded"):
            cap_response(response, limit=10_000, provider="p")
    assert server.requests[-1].headers["Accept-Encoding"] == "identity"
