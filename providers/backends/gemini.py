"""Gemini backend (stub: verify() is being written)."""
from __future__ import annotations

from .base import BaseBackend


class GeminiBackend(BaseBackend):
    id = "gemini"
    name = "Gemini"
