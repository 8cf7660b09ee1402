"""Template filters of the Forge pages (thin wrappers over agents.presentation)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from agents import presentation

register = template.Library()


@register.filter
def answer_html(text: str, agent_name: str) -> SafeString:
    return presentation.answer_html(agent_name, text)


@register.filter
def fallback_rows(fallbacks: list[dict[str, Any]]) -> list[dict[str, str]]:
    return presentation.fallback_rows(fallbacks)


@register.filter
def agent_title(name: str) -> str:
    return presentation.agent_display(name)
