"""AI Gateway (service account) backend (stub: verify() is being written)."""
from __future__ import annotations

from .base import BaseBackend


class AIGatewayBackend(BaseBackend):
    id = "ai_gateway"
    name = "AI Gateway (service account)"
    secret_fields = ("client_id", "client_secret")
    user_urls = True
