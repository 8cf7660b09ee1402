"""Issue 9, "URL policy": default ports only, development mode is loopback only.

Verify must not be a port scanner: user-set URLs use the scheme's default port unless the
operator allow-lists `host:port`, and development mode (DEBUG) reaches loopback only, never the
link-local and cloud metadata addresses. Real connections on 127.0.0.1: a raw TCP listener
stands for the service a URL points at (a Redis, a Docker API) and counts who connects.
"""

from __future__ import annotations

import socket
import threading

import pytest

from providers import registry
from providers.exceptions import URLNotAllowed
from providers.http.netpolicy import check_address, validate_url
from providers.secrets import Secret
from providers.testing.gateway_simulator import GatewaySimulator
from providers.types import CredentialConfig, VerificationOutcome

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET


class Listener:
    """A TCP port on 127.0.0.1 that accepts, counts and closes connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def gateway_config(base: str) -> CredentialConfig:
    return CredentialConfig(
        provider="ai_gateway",
        client_id=Secret(GATEWAY_CLIENT_ID),
        client_secret=Secret(GATEWAY_CLIENT_SECRET),
        base_url=f"{base}/v1",
        token_url=f"{base}/oauth/token",
    )


@pytest.fixture
def private_allowed(production):
    """An operator who allows private addresses (an internal network), without development mode."""
    production.PROVIDERS_ALLOW_PRIVATE_URLS = True
    production.PROVIDERS_REQUIRE_HTTPS = False
    return production


# --- ports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8:2375/", "https://8.8.8.8:6379/v1", "http://8.8.8.8:443/", "https://8.8.8.8:80/"]
)
def test_public_host_on_another_port_is_refused(production, url):
    production.PROVIDERS_REQUIRE_HTTPS = False
    with pytest.raises(URLNotAllowed, match="port"):
        validate_url(url)
    assert validate_url("https://8.8.8.8/v1") == "https://8.8.8.8/v1"
    assert validate_url("http://8.8.8.8:80/v1") == "http://8.8.8.8:80/v1"


def test_verify_sends_nothing_to_a_non_default_port_of_an_allowed_host(private_allowed):
    with Listener() as service:
        result = registry.get("ai_gateway").verify(gateway_config(f"https://127.0.0.1:{service.port}"))
        assert result.outcome is VerificationOutcome.URL_NOT_ALLOWED
        assert "port" in result.detail
        # The host alone on the allow-list does not open its other ports either.
        private_allowed.AI_GATEWAY_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
        for host in ("127.0.0.1", "localhost"):
            result = registry.get("ai_gateway").verify(gateway_config(f"https://{host}:{service.port}"))
            assert result.outcome is VerificationOutcome.URL_NOT_ALLOWED
        assert service.connections == 0  # not even a TCP handshake, let alone a TLS ClientHello


def test_connect_time_check_refuses_other_ports_too(production):
    production.AI_GATEWAY_ALLOWED_HOSTS = ["gateway.internal"]
    check_address("gateway.internal", "10.0.0.7", 443)
    with pytest.raises(URLNotAllowed):
        check_address("gateway.internal", "10.0.0.7", 6379)
    with pytest.raises(URLNotAllowed, match="port"):
        check_address("gateway.example.com", "93.184.215.14", 2375)


def test_allow_listed_host_port_is_reachable(production):
    production.PROVIDERS_REQUIRE_HTTPS = False
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        config = gateway_config(f"http://localhost:{sim.port}")
        assert registry.get("ai_gateway").verify(config).outcome is VerificationOutcome.URL_NOT_ALLOWED
        assert sim.requests == []
        production.AI_GATEWAY_ALLOWED_HOSTS = [f"localhost:{sim.port}"]
        assert registry.get("ai_gateway").verify(config).ok
        production.AI_GATEWAY_ALLOWED_HOSTS = [f"localhost:{sim.port + 1}"]  # another port: refused
        assert registry.get("ai_gateway").verify(config).outcome is VerificationOutcome.URL_NOT_ALLOWED


@pytest.mark.parametrize(
    "entry, url",
    [
        ("[::1]:8443", "https://[::1]:8443/"),
        ("gw.example.com:8443", "https://gw.example.com:8443/"),
        (".example.com:8443", "https://gw.example.com:8443/"),
    ],
)
def test_allow_list_entries_with_ports(production, entry, url):
    production.AI_GATEWAY_ALLOWED_HOSTS = [entry]
    assert validate_url(url) == url
    with pytest.raises(URLNotAllowed):
        validate_url(url.replace("8443", "8444"))


# --- development mode ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.0.0.5/v1",
        "http://192.168.1.10/v1",
    ],
)
def test_development_mode_refuses_everything_but_loopback(url):
    # pytest runs with DJANGO_DEBUG=true: the development defaults apply.
    with pytest.raises(URLNotAllowed, match="private or reserved"):
        validate_url(url)


def test_development_mode_reaches_the_local_simulators_on_any_port():
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        assert registry.get("ai_gateway").verify(gateway_config(sim.url)).ok
        assert registry.get("ai_gateway").verify(gateway_config(f"http://localhost:{sim.port}")).ok


def test_private_addresses_never_include_metadata(private_allowed):
    assert validate_url("http://10.0.0.5/v1") == "http://10.0.0.5/v1"
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://[fe80::1]/"):
        with pytest.raises(URLNotAllowed):
            validate_url(url)


def test_metadata_address_only_when_explicitly_allow_listed(settings):
    settings.PROVIDERS_REQUIRE_HTTPS = False
    with pytest.raises(URLNotAllowed):
        validate_url("http://169.254.169.254/latest/")
    settings.AI_GATEWAY_ALLOWED_HOSTS = ["169.254.169.254"]
    assert validate_url("http://169.254.169.254/latest/") == "http://169.254.169.254/latest/"
    check_address("169.254.169.254", "169.254.169.254", 80)


def test_the_page_refuses_the_metadata_url_in_development_mode(alice_client):
    from providers.models import ProviderCredential

    form = {
        "ai_gateway-client_id": GATEWAY_CLIENT_ID,
        "ai_gateway-client_secret": GATEWAY_CLIENT_SECRET,
        "ai_gateway-base_url": "http://169.254.169.254/latest",
        "ai_gateway-token_url": "http://169.254.169.254/oauth/token",
        "ai_gateway-token_auth_method": "client_secret_basic",
    }
    response = alice_client.post("/settings/providers/ai_gateway/save", form)
    assert response.status_code == 400
    assert "private or reserved address" in response.content.decode()
    assert not ProviderCredential.objects.exists()
