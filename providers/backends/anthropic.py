"""Anthropic backend (stub: verify() is being written)."""
from __future__ import annotations

from .base import BaseBackend


class AnthropicBackend(BaseBackend):
    id = "anthropic"
    name = "Anthropic"
