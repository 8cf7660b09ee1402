"""The client's IP address, for login lockouts (django-axes) and per-IP rate limits.

`REMOTE_ADDR` unless the operator says how many reverse proxies stand in front of the app
(`TRUSTED_PROXY_COUNT`). Headers a client sends are never trusted by default: anyone can send
`X-Forwarded-For: 1.2.3.4` and would otherwise pick a fresh address for every attempt.

With N trusted proxies, each appending the address it received the request from to
`X-Forwarded-For` (nginx `$proxy_add_x_forwarded_for`, most load balancers), the client is the
N-th entry from the right: everything left of it may have been written by the client.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:  # the request did not come through every proxy: trust only the socket
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
