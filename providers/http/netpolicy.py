"""Which outbound URLs a user may make us call (the AI Gateway base URL and token URL).

Two checks, because DNS can change between them (rebinding):

* `validate_url()` when a URL is entered or used: scheme, userinfo, control characters, host,
  port, and the addresses the host resolves to right now.
* `check_address()` at connect time, on the very address and port the socket connects to
  (the transports of `providers.http.transports` resolve the host themselves and call it for
  every address).

The rules (docs/security.md, "URL policy"):

* Addresses: only publicly routable ones. Non-global addresses (private, loopback, link-local,
  CGNAT, multicast, reserved, unspecified, IPv6 ULA/link-local, and IPv4 embedded in IPv6) are
  refused, with two relaxations: `PROVIDERS_ALLOW_LOOPBACK_URLS` (development mode: true under
  DEBUG so the local simulators work) allows loopback addresses on any port, and
  `PROVIDERS_ALLOW_PRIVATE_URLS` allows private ones on the default port. Link-local and cloud
  metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200) are never
  allowed by either: only an explicit allow-list entry reaches them.
* Ports: only the scheme's default (80 for http, 443 for https), so verify cannot probe other
  services (a Docker API on :2375, a Redis on :6379). Loopback in development mode is the
  exception.
* `AI_GATEWAY_ALLOWED_HOSTS` lists hosts allowed whatever they resolve to: exact host names or
  IP literals, or `.example.com` / `*.example.com` for a domain and its subdomains; an entry
  without a port allows the scheme's default port only, `host:port` (`[v6]:port`) that port.
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from urllib.parse import urlsplit, urlunsplit

from ..conf import app_settings
from ..exceptions import URLNotAllowed

_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The NAT64 well-known prefix maps to IPv4 addresses, which may be private (RFC 6052).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Cloud metadata services outside the link-local ranges (AWS over IPv6, Alibaba Cloud).
_METADATA = (ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200"))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def validate_url(url: str) -> str:
    """Return `url` normalized (lowercase scheme and host, IDNA host, no fragment) or raise
    URLNotAllowed with a message fit to show the user."""
    if not isinstance(url, str) or not url.strip():
        raise URLNotAllowed("Enter a URL.")
    if any(_is_control_or_space(ch) for ch in url) or "\\" in url:
        raise URLNotAllowed("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise URLNotAllowed("The URL is malformed (check the host and port).") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise URLNotAllowed("Only http and https URLs are allowed.")
    if app_settings.REQUIRE_HTTPS and scheme != "https":
        raise URLNotAllowed("The URL must use https.")
    if "@" in parts.netloc:
        raise URLNotAllowed("The URL must not contain a user name or password.")
    host = _normalize_host(parts.hostname or "")
    if not host:
        raise URLNotAllowed("The URL has no host.")

    effective_port = port if port is not None else _DEFAULT_PORTS[scheme]
    if not host_is_allow_listed(host, effective_port, default_ports=(_DEFAULT_PORTS[scheme],)):
        literal = _parse_ip(host)
        addresses = [host] if literal is not None else _resolve(host, effective_port)
        for ip in addresses:
            _check(host, ip, effective_port, default_port=effective_port == _DEFAULT_PORTS[scheme])

    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


def check_address(host: str, ip: str, port: int | None = None) -> None:
    """Refuse connecting to `ip` (an address `host` resolved to) on `port` unless the policy
    allows it. Without the scheme at hand, 80 and 443 count as default ports here; `validate_url`
    has already held the URL to its own scheme's."""
    if port is not None and host_is_allow_listed(host, port):
        return
    if port is None and host_is_allow_listed(host):
        return
    _check(host, ip, port, default_port=port is None or port in _DEFAULT_PORTS.values())


def _check(host: str, ip: str, port: int | None, *, default_port: bool) -> None:
    address = _parse_ip(ip)
    shown = _normalize_host(host)
    if address is None:
        raise URLNotAllowed(f"The host {shown} resolves to an address that is not allowed.")
    if address.is_loopback and app_settings.ALLOW_LOOPBACK_URLS:
        return  # development mode: the local simulators, on any port
    if is_global_address(address) or (app_settings.ALLOW_PRIVATE_URLS and not is_metadata_address(address)):
        if not default_port:
            raise URLNotAllowed(
                f"The port {port} is not allowed: gateway URLs use the default port of their scheme "
                "(443 for https) unless the operator allow-lists the host with its port."
            )
        return
    if address == _parse_ip(shown):
        raise URLNotAllowed(f"The host {shown} is a private or reserved address, which is not allowed.")
    raise URLNotAllowed(f"The host {shown} resolves to a private or reserved address ({ip}), which is not allowed.")


def is_metadata_address(address: IPAddress) -> bool:
    """Link-local and cloud metadata addresses: allowed only by an explicit allow-list entry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_metadata_address(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None and is_metadata_address(embedded):
            return True
    return address.is_link_local or address in _METADATA


def host_is_allow_listed(host: str, port: int | None = None, *, default_ports: tuple[int, ...] = (80, 443)) -> bool:
    """True when an `AI_GATEWAY_ALLOWED_HOSTS` entry names `host` and allows `port`: an entry
    with a port allows that port only, one without the `default_ports` (`validate_url` passes
    its scheme's). `port=None` asks about the host alone."""
    host = _normalize_host(host)
    for raw in app_settings.AI_GATEWAY_ALLOWED_HOSTS:
        entry, entry_port = _split_entry(raw)
        if not entry:
            continue
        if port is not None and port != entry_port and not (entry_port is None and port in default_ports):
            continue
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == _normalize_host(entry):
            return True
    return False


def _split_entry(raw: str) -> tuple[str, int | None]:
    """An allow-list entry as (host, port or None): "host", "host:8443", "[fd00::1]:8443", "fd00::1"."""
    entry = raw.strip().lower().rstrip(".")
    host, port = entry, ""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    host = host.rstrip(".")
    return host, (int(port) if port.isdigit() else None)


def is_global_address(address: IPAddress) -> bool:
    """True only for publicly routable unicast addresses; IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # ::ffff:a.b.c.d reaches the IPv4 host; refused outright (no legitimate use in a URL).
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_global_address(embedded):
            return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_private
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise URLNotAllowed(f"The host {host} could not be resolved; check the URL.") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise URLNotAllowed(f"The host {host} could not be resolved; check the URL.")
    return addresses


def _parse_ip(value: str) -> IPAddress | None:
    try:
        # Strip an IPv6 zone id ("fe80::1%eth0"): the address part decides.
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def _normalize_host(host: str) -> str:
    host = host.strip().strip("[]").lower().rstrip(".")
    if not host or _parse_ip(host) is not None:
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise URLNotAllowed("The host name is not valid.") from None


def _is_control_or_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def require_https(url: str, *, what: str, provider: str = "") -> None:
    """At request time, for a *stored* user-set URL: refuse a non-https one when
    `PROVIDERS_REQUIRE_HTTPS` is on. `validate_url` ran when the URL was saved, but a URL stored
    under a laxer policy (or before the setting was turned on) must not be used afterwards."""
    if app_settings.REQUIRE_HTTPS and not url.lower().startswith("https://"):
        raise URLNotAllowed(
            f"The stored {what} does not use https, which PROVIDERS_REQUIRE_HTTPS requires: "
            "edit the credential and enter an https:// URL.",
            provider=provider,
            code="https_required",
        )
