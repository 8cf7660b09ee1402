"""OpenAI backend (stub: verify() is being written)."""
from __future__ import annotations

from .base import BaseBackend


class OpenAIBackend(BaseBackend):
    id = "openai"
    name = "OpenAI"
