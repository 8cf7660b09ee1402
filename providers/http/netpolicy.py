"""Which outbound URLs a user may make us call (the AI Gateway base URL and token URL).

Two checks, because DNS can change between them (rebinding):

* `validate_url()` when a URL is entered or used: scheme, userinfo, control characters, host,
  and the addresses the host resolves to right now.
* `check_address()` at connect time, on the very address the socket connects to
  (the transports of `providers.http.transports` resolve the host themselves and call it for
  every address).

Non-global addresses (private, loopback, link-local incl. the cloud metadata endpoint
169.254.169.254, CGNAT, multicast, reserved, unspecified, IPv6 ULA/link-local, and IPv4 embedded
in IPv6) are refused unless the operator allows them: `PROVIDERS_ALLOW_PRIVATE_URLS` (true under
DEBUG so the local simulators work) or the host is listed in `AI_GATEWAY_ALLOWED_HOSTS`
(exact host names, or `.example.com` / `*.example.com` for a domain and its subdomains).
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

    if address_policy_applies(host):
        literal = _parse_ip(host)
        if literal is not None:
            if not is_global_address(literal):
                raise URLNotAllowed(f"The host {host} is a private or reserved address, which is not allowed.")
        else:
            # Only when the policy applies: under DEBUG an unresolvable host fails later as "unreachable".
            for ip in _resolve(host, port or _DEFAULT_PORTS[scheme]):
                check_address(host, ip)

    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


def check_address(host: str, ip: str) -> None:
    """Refuse connecting to `ip` (an address `host` resolved to) unless it is global or allowed."""
    if not address_policy_applies(host):
        return
    address = _parse_ip(ip)
    if address is None or not is_global_address(address):
        raise URLNotAllowed(
            f"The host {_normalize_host(host)} resolves to a private or reserved address ({ip}), which is not allowed."
        )


def address_policy_applies(host: str) -> bool:
    """False when the operator allows private addresses in general or for this host."""
    if app_settings.ALLOW_PRIVATE_URLS:
        return False
    return not host_is_allow_listed(host)


def host_is_allow_listed(host: str) -> bool:
    host = _normalize_host(host)
    for entry in app_settings.AI_GATEWAY_ALLOWED_HOSTS:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == _normalize_host(entry):
            return True
    return False


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
